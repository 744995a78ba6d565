import requests
headers = {
'Authorization': 'Bearer YOUR_USER_API_KEY',
'Accept': 'application/json',
}
response = requests.delete('BASE_URL/api/emails/demo123@example.com', headers=headers, timeout=30)
response.raise_for_status()
print(response.json())
