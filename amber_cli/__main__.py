from amber_cli.main import app

app()
