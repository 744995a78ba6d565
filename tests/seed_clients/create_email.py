import requests
headers = {
'Authorization': 'Bearer YOUR_USER_API_KEY',
'Accept': 'application/json',
}
response = requests.post('BASE_URL/api/emails', headers=headers, timeout=30)
response.raise_for_status()
print(response.json())
