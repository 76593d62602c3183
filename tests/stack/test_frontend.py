"""The generated frontend without a browser: what the strict CSP needs (no inline script or style,
nothing external), both languages complete, and its own nginx serving with the right headers."""

from __future__ import annotations

import gzip
import re
import shutil
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import httpx
import pytest
from stack.nginx import write_nginx_prefix
from support.browser import FRONTEND_PUBLIC, read_messages
from support.ports import free_port, wait_for_port
from support.project import render

LANGUAGES = ("fr", "en")
SOURCES = sorted(p for p in FRONTEND_PUBLIC.rglob("*") if p.is_file())
JS_FILES = [p for p in SOURCES if p.suffix == ".js"]
FRONTEND_TEMPLATES = FRONTEND_PUBLIC.parent / "nginx" / "templates"


def public_dir(project: Path) -> Path:
    [public] = project.glob("*/frontend/public")  # <slug>/frontend/public
    return public


def code_of(path: Path) -> str:
    """The script without its comments (which may name what the code must not do)."""
    code = re.sub(r"/\*.*?\*/", "", path.read_text(encoding="utf-8"), flags=re.DOTALL)
    return re.sub(r"^\s*//.*$", "", code, flags=re.MULTILINE)


@pytest.fixture(scope="module")
def english_project(session_tmp: Path) -> Path:
    return render(session_tmp / "frontend-en", ui_language="en", project_name="Files & <Co>")


class TagCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.script_bodies: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.script_bodies.append(data)


def parse(html: str) -> TagCollector:
    collector = TagCollector()
    collector.feed(html)
    return collector


def test_page_language_and_title_follow_the_answers(rendered_project: Path, english_project):
    french = (public_dir(rendered_project) / "index.html").read_text()
    english = (public_dir(english_project) / "index.html").read_text()
    assert '<html lang="fr">' in french
    assert '<html lang="en">' in english
    assert "<title>Closo</title>" in french
    assert "<title>Files &amp; &lt;Co&gt;</title>" in english  # escaped, not markup


def test_no_inline_script_style_or_handler(rendered_project: Path):
    """The edge's CSP (script-src 'self'; style-src 'self') would block any of these."""
    page = parse((public_dir(rendered_project) / "index.html").read_text())
    assert page.script_bodies == []
    scripts = [attrs for tag, attrs in page.tags if tag == "script"]
    assert scripts == [
        {"type": "module", "async": None, "src": "/js/session-probe.js"},
        {"type": "module", "src": "/js/main.js"},
    ]
    assert not [tag for tag, _ in page.tags if tag == "style"]
    for tag, attrs in page.tags:
        assert "style" not in attrs, f"inline style on <{tag}>"
        assert not [name for name in attrs if name.startswith("on")], f"handler on <{tag}>"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(FRONTEND_PUBLIC)))
def test_no_external_resource(path: Path):
    """No CDN, font or analytics URL: everything comes from the site itself."""
    text = path.read_text(encoding="utf-8")
    namespaces = (
        'xmlns="http://www.w3.org/2000/svg"',
        "'http://www.w3.org/2000/svg'",
        "xmlns=%22http://www.w3.org/2000/svg%22",  # the tab icon's, in a data: URL
    )
    for namespace in namespaces:
        text = text.replace(namespace, "")  # a namespace, not a fetch
    assert not re.findall(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, re.IGNORECASE)


@pytest.mark.parametrize("path", JS_FILES, ids=lambda p: str(p.relative_to(FRONTEND_PUBLIC)))
def test_scripts_keep_to_the_rules(path: Path):
    """Tokens stay in memory; markup is never built from strings; nothing needs 'unsafe-eval'."""
    code = code_of(path)
    for forbidden in (
        "localStorage",
        "sessionStorage",
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
    ):
        assert forbidden not in code, f"{forbidden} in {path.name}"
    static = re.findall(r"""^import\b[^;]*?['"]([^'"]+)['"];""", code, re.MULTILINE)
    dynamic = re.findall(r"""\bimport\(\s*['"`]([^'"`]+)['"`]""", code)
    for specifier in static + dynamic:
        assert specifier.startswith(("./", "../")), f"bare or absolute import {specifier!r}"
        if "${" not in specifier:
            assert (path.parent / specifier).resolve().is_file(), f"{specifier} does not exist"


def test_both_languages_have_the_same_keys_and_placeholders():
    french, english = (read_messages(language) for language in LANGUAGES)
    assert sorted(french) == sorted(english)
    for key in french:
        placeholders = [set(re.findall(r"\{(\w+)\}", m[key])) for m in (french, english)]
        assert placeholders[0] == placeholders[1], key
        assert french[key].strip() and english[key].strip(), f"{key} is empty"


def test_every_key_the_code_uses_exists():
    messages = read_messages("en")
    code = "\n".join(code_of(path) for path in JS_FILES if path.parent.name != "i18n")
    used = set(re.findall(r"\bt\(\s*'([\w.]+)'", code))
    # tn('files.count', n): 'files.count' and its singular 'files.countOne'.
    counted = set(re.findall(r"\btn\(\s*'([\w.]+)'", code))
    used |= counted | {f"{key}One" for key in counted}
    assert used, "no t('…') call found: has the i18n helper been renamed?"
    assert sorted(used - set(messages)) == []
    # Keys built at run time (t(`role.${user.role}`)): their prefix must exist.
    for prefix in re.findall(r"\bt\(\s*`([\w.]+)\$\{", code):
        assert any(key.startswith(prefix) for key in messages), prefix
    # Every string is used somewhere (keys also travel as plain literals: route titles).
    literals = set(re.findall(r"'(\w+\.\w+)'", code))
    dynamic = re.findall(r"\bt\(\s*`([\w.]+)\$\{", code)
    unused = [
        key
        for key in messages
        if key not in literals | used and not any(key.startswith(p) for p in dynamic)
    ]
    assert unused == [], "strings that no code uses"


def imports(path: Path, *, dynamic: bool = False) -> list[Path]:
    """What `path` imports: `import … from './x.js';`, and `import('./x.js')` if `dynamic`."""
    code = code_of(path)
    specifiers = re.findall(r"""^import\b[^;]*?['"]([^'"]+)['"];""", code, re.MULTILINE)
    if dynamic:
        specifiers += re.findall(r"""\bimport\(\s*['"](\.[^'"]+)['"]\s*\)""", code)
    return [(path.parent / specifier).resolve() for specifier in specifiers]


def module_graph(entry: Path, *, dynamic: bool = False) -> list[Path]:
    """Every module `entry` imports, directly or through others (static imports; and dynamic
    ones with a literal specifier if `dynamic`)."""
    found: list[Path] = []
    todo = [entry.resolve()]
    while todo:
        module = todo.pop()
        if module not in found:
            found.append(module)
            todo.extend(imports(module, dynamic=dynamic))
    return found


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_page_announces_every_module_once(session_tmp: Path, rendered_project, language):
    """index.html lists with <link rel="modulepreload"> (or loads as a script of its own) every
    module main.js imports statically and the language's strings (imported by i18n.js at run
    time), each once: the browser asks for them all at once instead of discovering them import by
    import. A module added or dropped without updating the list fails here, so the list cannot
    drift. The signed-in pages' modules, which main.js imports dynamically once the first page is
    drawn, are not in it: the sign-in form does not wait for them."""
    project = (
        rendered_project
        if language == "fr"
        else render(session_tmp / "preload-en", ui_language="en")
    )
    public = public_dir(project)
    page = parse((public / "index.html").read_text())
    preloaded = [attrs["href"] for tag, attrs in page.tags if attrs.get("rel") == "modulepreload"]
    scripts = [attrs["src"] for tag, attrs in page.tags if tag == "script"]
    announced = preloaded + [src for src in scripts if src != "/js/main.js"]
    assert len(announced) == len(set(announced)), "a module listed twice"
    entry = public / "js" / "main.js"
    graph = module_graph(entry)
    wanted = {f"/{m.relative_to(public.resolve())}" for m in graph if m != entry.resolve()}
    assert set(announced) == wanted | {f"/i18n/{language}.js"}
    assert all(m.suffix == ".js" for m in graph)
    # No module is left out (each one is reached from main.js, statically or dynamically).
    modules = {m.resolve() for m in (public / "js").rglob("*.js")}
    everything = module_graph(entry, dynamic=True)
    assert modules == set(everything), "a module nothing imports"
    # The modules only reached dynamically are fetched in one go by signed-in-views.js's list.
    lazy = public / "js" / "signed-in-views.js"
    listed = re.findall(r"^\s*'(\./[^']+)',$", lazy.read_text(), re.MULTILINE)
    assert len(listed) == len(set(listed)), "a module listed twice"
    assert {(lazy.parent / m).resolve() for m in listed} == set(everything) - set(graph)
    # The tab icon is favicon.svg's drawing inline (a data: URL), never fetched: Chromium fetches
    # a file icon again each time the app replaces the address. The page draws its mark itself
    # (logo.js), so nothing asks for favicon.svg by its address.
    [icon] = [attrs["href"] for tag, attrs in page.tags if attrs.get("rel") == "icon"]
    data = "data:image/svg+xml,"
    assert icon.startswith(data) and unquote(icon[len(data) :]) == (
        (public / "favicon.svg").read_text().strip()
    )
    references = [p for p in public.rglob("*") if p.is_file() and "favicon.svg" in code_of(p)]
    assert references == []


# A function's body in the app's scripts: `function name(…) {`, a method `name(…) {`, or an
# arrow function with a block `=> {`. Strings, template literals, comments and regular
# expressions are skipped as whole tokens, so their braces do not count.
JS_TOKEN = re.compile(
    r"//[^\n]*|/\*.*?\*/|'(?:\\.|[^'\\\n])*'|\"(?:\\.|[^\"\\\n])*\"|`(?:\\.|[^`\\])*`"
    r"|/(?:\\.|\[(?:\\.|[^\]\\\n])*\]|[^/\\\n\[])+/[a-z]*(?=\s*[,;)\].\n])"
    r"|=>|[{}()]|[A-Za-z_$][\w$]*|\n|\S",
    re.DOTALL,
)
NOT_FUNCTIONS = {"if", "for", "while", "switch", "catch", "with"}
MAX_FUNCTION_LINES = 80


def function_lengths(source: str) -> list[tuple[str, int, int]]:
    """(name, first line, number of lines) of every function body in a script, nested ones too
    (an arrow function is named "=>")."""
    line, opened, tokens, found = 1, [], [], []
    for match in JS_TOKEN.finditer(source):
        token = match.group()
        if token == "{":
            opened.append((function_name(tokens), line))
        elif token == "}" and opened:
            name, start = opened.pop()
            if name:
                found.append((name, start, line - start + 1))
        line += token.count("\n")
        if token != "\n" and not token.startswith(("//", "/*")):
            tokens.append(token)
    return found


def function_name(tokens: list[str]) -> str | None:
    """The function a `{` after `tokens` opens, or None (an object, a block, a class)."""
    if tokens and tokens[-1] == "=>":
        return "=>"
    if not tokens or tokens[-1] != ")":
        return None
    depth = 0
    for index in range(len(tokens) - 1, -1, -1):
        depth += {")": 1, "(": -1}.get(tokens[index], 0)
        if depth == 0:
            word = tokens[index - 1] if index else ""
            named = re.fullmatch(r"[A-Za-z_$][\w$]*", word) and word not in NOT_FUNCTIONS
            return word if named else None
    return None


def test_the_length_scan_finds_functions_of_every_kind():
    source = "function a() {\n  return 1;\n}\nconst b = (x) => {\n  if (x) { return {}; }\n};\n"
    source += "const o = { c(y) {\n  return `${y}}`;\n} };\nconst d = x => x / 2; // }\n"
    assert function_lengths(source) == [("a", 1, 3), ("=>", 4, 3), ("c", 7, 3)]


@pytest.mark.parametrize("path", JS_FILES, ids=lambda p: str(p.relative_to(FRONTEND_PUBLIC)))
def test_no_function_is_longer_than_80_lines(path: Path):
    """A view assembles small named parts (the upload panel, the list, the toolbar, a row…): a
    function that grows past 80 lines is the sign that a part should become its own."""
    long = [
        f"{name} (line {start}): {lines} lines"
        for name, start, lines in function_lengths(path.read_text(encoding="utf-8"))
        if lines > MAX_FUNCTION_LINES
    ]
    assert long == [], f"split these into named parts: {long}"


# --- the frontend's own nginx ---------------------------------------------------------------------


def test_frontend_nginx_template_uses_only_its_documented_variables() -> None:
    template = (FRONTEND_TEMPLATES / "default.conf.template").read_text()
    assert set(re.findall(r"\$\{(\w+)\}", template)) == {"FRONTEND_LISTEN", "FRONTEND_ROOT"}


@dataclass
class Frontend:
    url: str
    public: Path


@pytest.fixture(scope="module")
def frontend(session_tmp: Path, rendered_project: Path) -> Iterator[Frontend]:
    """A copy of the rendered frontend served by its own nginx config on a free loopback port."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    port = free_port()
    prefix = session_tmp / "frontend-nginx"
    public = shutil.copytree(public_dir(rendered_project), prefix / "public")
    (public / ".env").write_text("SECRET=1\n")  # must never be served
    env = {"FRONTEND_LISTEN": f"127.0.0.1:{port}", "FRONTEND_ROOT": str(public)}
    templates = next(rendered_project.glob("*/frontend/nginx/templates"))
    write_nginx_prefix(prefix, templates, env)  # as `up` does
    args = [nginx, "-p", str(prefix), "-c", str(prefix / "nginx.conf")]
    test = subprocess.run([*args, "-t"], capture_output=True, text=True)
    assert test.returncode == 0, test.stderr
    server = subprocess.Popen(args)
    url = f"http://127.0.0.1:{port}"
    wait_for_port(port, process=server)
    yield Frontend(url, public)
    server.terminate()
    server.wait(timeout=10)


def test_index_is_never_stored(frontend: Frontend):
    for path in ("/", "/index.html"):
        response = httpx.get(frontend.url + path)
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/html; charset=utf-8"
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["server"] == "nginx"  # server_tokens off: no version


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/js/main.js", "application/javascript; charset=utf-8"),
        ("/i18n/fr.js", "application/javascript; charset=utf-8"),
        ("/css/app.css", "text/css; charset=utf-8"),
        ("/favicon.svg", "image/svg+xml; charset=utf-8"),
    ],
)
def test_assets_are_typed_cached_and_revalidated(frontend: Frontend, path: str, content_type: str):
    response = httpx.get(frontend.url + path)
    assert response.status_code == 200
    assert response.headers["content-type"] == content_type
    assert response.headers["cache-control"] == "no-cache"  # kept, but checked at every use
    etag = response.headers["etag"]
    again = httpx.get(frontend.url + path, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""


@pytest.mark.parametrize("path", ["/js/api.js", "/css/app.css", "/i18n/en.js"])
def test_text_assets_are_compressed(frontend: Frontend, path: str):
    with httpx.Client(headers={"Accept-Encoding": "gzip"}) as client:
        response = client.send(client.build_request("GET", frontend.url + path), stream=True)
        body = b"".join(response.iter_raw())
    original = (frontend.public / path.lstrip("/")).read_bytes()
    assert response.headers.get("content-encoding") == "gzip"
    assert "Accept-Encoding" in response.headers.get("vary", "")
    assert len(body) < len(original)
    assert gzip.decompress(body) == original


def test_compressed_for_an_http10_proxy(frontend: Frontend):
    """The edge nginx speaks HTTP/1.0 to its upstreams unless told otherwise: still compressed."""
    host, port = frontend.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as connection:
        connection.sendall(
            b"GET /js/api.js HTTP/1.0\r\nHost: frontend\r\nAccept-Encoding: gzip\r\n\r\n"
        )
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head = answer.split(b"\r\n\r\n", 1)[0].decode().lower()
    assert head.startswith("http/1.1 200")
    assert "content-encoding: gzip" in head


def test_a_mistyped_address_gets_the_app_with_a_404(frontend: Frontend):
    """/pas/une/page: the app's page (which shows its own "page not found" in the site's
    language), never nginx's English one, and still the 404 status."""
    response = httpx.get(frontend.url + "/pas/une/page")
    assert response.status_code == 404
    assert response.text == (frontend.public / "index.html").read_text()
    assert response.headers["cache-control"] == "no-store"
    assert "nginx" not in response.text


@pytest.mark.parametrize("path", ["/.env", "/.git/config", "/js/.hidden.js", "/missing.js"])
def test_hidden_and_missing_files_are_404(frontend: Frontend, path: str):
    assert (frontend.public / ".env").is_file()
    response = httpx.get(frontend.url + path)
    assert response.status_code == 404
    assert "SECRET" not in response.text
