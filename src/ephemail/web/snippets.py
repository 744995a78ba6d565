"""Ready-to-copy API calls for the API management page, for the account's real base URL.

The key is never in them (`YOUR_API_KEY`): it appears once, when it is created.
"""

from __future__ import annotations

from dataclasses import dataclass

PLACEHOLDER = "YOUR_API_KEY"


@dataclass(frozen=True)
class Snippet:
    id: str
    label: str
    code: str


def snippets(api_url: str) -> list[Snippet]:
    """List the domains, create a mailbox, read its messages: in four languages."""
    return [
        Snippet(
            "curl",
            "curl",
            f"""KEY={PLACEHOLDER}
# domains your plan allows
curl -s {api_url}/domains -H "Authorization: Bearer $KEY"
# a new random mailbox
curl -s -X POST {api_url}/emails -H "Authorization: Bearer $KEY"
# its messages
curl -s "{api_url}/messages?email=ADDRESS" -H "Authorization: Bearer $KEY\"""",
        ),
        Snippet(
            "python",
            "Python",
            f"""import requests

API = "{api_url}"
session = requests.Session()
session.headers["Authorization"] = "Bearer {PLACEHOLDER}"

box = session.post(f"{{API}}/emails").json()["data"]
print("address:", box["email"])
messages = session.get(f"{{API}}/messages", params={{"email": box["email"]}}).json()
print(messages["data"])""",
        ),
        Snippet(
            "javascript",
            "JavaScript",
            f"""const API = "{api_url}";
const headers = {{ Authorization: "Bearer {PLACEHOLDER}" }};

const box = (await (await fetch(`${{API}}/emails`, {{ method: "POST", headers }})).json()).data;
console.log("address:", box.email);
const url = `${{API}}/messages?email=${{encodeURIComponent(box.email)}}`;
const messages = await (await fetch(url, {{ headers }})).json();
console.log(messages.data);""",
        ),
        Snippet(
            "php",
            "PHP",
            f"""<?php
$api = "{api_url}";
$headers = ["Authorization: Bearer {PLACEHOLDER}"];

function call(string $method, string $url, array $headers): array {{
    $ch = curl_init($url);
    curl_setopt_array($ch, [CURLOPT_CUSTOMREQUEST => $method,
        CURLOPT_HTTPHEADER => $headers, CURLOPT_RETURNTRANSFER => true]);
    return json_decode(curl_exec($ch), true);
}}

$box = call("POST", "$api/emails", $headers)["data"];
echo "address: {{$box['email']}}\\n";
$messages = call("GET", "$api/messages?email=" . urlencode($box["email"]), $headers);
print_r($messages["data"]);""",
        ),
    ]
