def test_login_page_renders(client):
    response = client.get("/entrar")
    assert response.status_code == 200
    assert "Entrar no portal" in response.get_data(as_text=True)


def test_master_home(login_as):
    client = login_as("master")
    response = client.get("/")
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    body = response.get_data(as_text=True)
    assert "Usuários" in body
