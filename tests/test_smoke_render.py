from helpers import render


def test_default_render_has_answers_and_env(session_tmp):
    project = render(session_tmp / "smoke")
    assert (project / ".copier-answers.yml").is_file()
    assert "SECRET_KEY=" in (project / ".env").read_text()


def test_pg_cluster_accepts_connections(pg_cluster):
    import subprocess
    out = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-p", str(pg_cluster.port), "-U", "postgres", "-tAc", "select 1"],
        env={"PGPASSWORD": "postgres", "PATH": "/usr/bin:/bin"}, capture_output=True, text=True)
    assert out.stdout.strip() == "1", out.stderr
