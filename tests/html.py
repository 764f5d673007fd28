"""Reading the portal's pages as a person (or a browser) does, in view tests: no browser, standard library only.

A page is a test client's response or its HTML as a string. `text` is the HTML as sent; `words` and `visible`
the text a person reads (tags removed, inline tags such as <a> or <strong> joined to their neighbours, entities
decoded, white space collapsed); `section` the text of the element marked `data-testid=…`; `alerts` the flashed
messages, `follow` those of the page a redirect leads to; `field_errors` the messages under the form's fields;
`input_value`/`textarea` what a field shows.

Forms as a browser submits them: view tests that post a hand-made dict cannot see what the template sends: a
field written twice (WTForms' `hidden_tag()` plus a hand-written `<input type=hidden>` of the same name)
reaches the view as two values, of which WTForms reads the first. `forms(html)` lists each form's controls in
document order; `duplicated_fields` names the ones a form posts more than once; `submission(html, action)` is
what pressing that form's button posts.
"""

import html
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

from werkzeug.datastructures import MultiDict

_VOID = frozenset({"area", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"})
_INLINE = re.compile(r"</?(?:a|span|strong|em|time|code)\b[^>]*>")


def text(page) -> str:
    """The page's HTML as sent (a string is taken as it is)."""
    return page if isinstance(page, str) else page.get_data(as_text=True)


def shown(response) -> str:
    """The HTML of a page that was shown (status 200)."""
    assert response.status_code == 200, response.status_code
    return text(response)


def unescaped(page) -> str:
    """The page's HTML with its character references decoded (&amp; → &, &#39; → ')."""
    return html.unescape(text(page))


def words(fragment: str) -> str:
    """Visible text of an HTML fragment: inline tags joined to their neighbours, other tags a space, entities
    decoded, white space collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", _INLINE.sub("", fragment))).split())


def visible(page) -> str:
    """The whole page's visible text (scripts and styles left out), as `words`."""
    return words(re.sub(r"<(script|style)\b.*?</\1>", " ", text(page), flags=re.S))


def section(page, testid: str) -> str:
    """The visible text of the element marked data-testid=… (nested tags of the same name included)."""
    return words(section_html(page, testid))


def section_html(page, testid: str) -> str:
    """The HTML of the element marked data-testid=…, from its opening tag to the one that closes it (a void
    element such as <input>: its tag)."""
    body = text(page)
    start = body.index(f'data-testid="{testid}"')
    tag = body.rfind("<", 0, start)
    name = re.match(r"<(\w+)", body[tag:]).group(1)
    if name in _VOID:
        return body[tag:body.index(">", start) + 1]
    depth = 0
    for match in re.finditer(rf"<(/?){name}\b[^>]*>", body[tag:]):
        depth += -1 if match.group(1) else 1
        if depth == 0:
            return body[tag:tag + match.end()]
    raise AssertionError(f"{testid} is not closed")


def nav(page) -> str:
    """The HTML of the main navigation (the list marked data-testid="nav")."""
    body = text(page)
    start = body.index('data-testid="nav"')
    return body[start:body.index("</ul>", start)]


def alerts(page) -> list[str]:
    """The page's alerts (flashed messages and notices), as read."""
    return [words(a) for a in re.findall(r'<div class="alert [^"]*" role="\w+"[^>]*>(.*?)</div>', text(page), re.S)]


def follow(client, response) -> list[str]:
    """The alerts of the page a redirect leads to (the messages flashed before it)."""
    assert response.status_code == 302, text(response)
    return alerts(client.get(response.headers["Location"]))


def field_errors(page) -> list[str]:
    """The messages under the form's fields (class invalid-feedback), in order."""
    return [words(e) for e in re.findall(r'class="invalid-feedback[^"]*">(.*?)</div>', text(page), re.S)]


def input_value(page, name: str, id_: str | None = None) -> str | None:
    """The value the input named `name` (or with id `id_`) shows; None when it has none or is not there."""
    pattern = rf'<input[^>]*id="{id_}"[^>]*>' if id_ else rf'<input[^>]*name="{name}"[^>]*>'
    tag = re.search(pattern, text(page))
    value = re.search(r'value="([^"]*)"', tag.group(0)) if tag else None
    return html.unescape(value.group(1)) if value else None


def textarea(page, name: str) -> str:
    """The text of the textarea named `name`, without surrounding white space."""
    found = re.search(rf'<textarea[^>]*name="{name}"[^>]*>(.*?)</textarea>', text(page), re.S)
    assert found, f"no textarea named {name}"
    return html.unescape(found.group(1)).strip()


# ---------------------------------------------------------------- forms as a browser submits them

# Controls whose name legitimately repeats inside one form (a group of choices), and ones that post nothing.
_GROUPS = frozenset({"checkbox", "radio"})
_NOT_POSTED = frozenset({"submit", "button", "reset", "image", "file"})


@dataclass
class Form:
    action: str
    method: str
    fields: list[tuple[str, str]] = field(default_factory=list)  # (name, value) in document order
    repeatable: set[str] = field(default_factory=set)  # names of checkbox/radio groups and multiple selects

    def duplicated(self) -> list[str]:
        seen, twice = set(), []
        for name, _ in self.fields:
            if name in seen and name not in self.repeatable and name not in twice:
                twice.append(name)
            seen.add(name)
        return twice


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self._form: Form | None = None
        self._textarea: tuple[str, list[str]] | None = None
        self._select: tuple[str, bool] | None = None
        self._option_value: str | None = None
        self._select_first: str | None = None
        self._select_chosen: str | None = None

    def handle_starttag(self, tag, attrs):
        a = {k: (v if v is not None else "") for k, v in attrs}
        if tag == "form":
            self._form = Form(action=a.get("action", ""), method=a.get("method", "get").lower())
            self.forms.append(self._form)
            return
        if self._form is None or "disabled" in a:
            return
        name = a.get("name")
        if tag == "input" and name:
            kind = a.get("type", "text").lower()
            if kind in _NOT_POSTED:
                return
            if kind in _GROUPS:
                self._form.repeatable.add(name)
                if "checked" in a:
                    self._form.fields.append((name, a.get("value", "on")))
                return
            self._form.fields.append((name, a.get("value", "")))
        elif tag == "textarea" and name:
            self._textarea = (name, [])
        elif tag == "select" and name:
            self._select = (name, "multiple" in a)
            if "multiple" in a:
                self._form.repeatable.add(name)
            self._select_first = self._select_chosen = None
        elif tag == "option" and self._select:
            self._option_value = a.get("value")
            value = self._option_value if self._option_value is not None else ""
            if self._select_first is None:
                self._select_first = value
            if "selected" in a and self._select_chosen is None:
                self._select_chosen = value

    def handle_data(self, data):
        if self._textarea is not None:
            self._textarea[1].append(data)

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "textarea" and self._textarea is not None:
            name, parts = self._textarea
            if self._form is not None:
                self._form.fields.append((name, "".join(parts).removeprefix("\n")))
            self._textarea = None
        elif tag == "select" and self._select is not None:
            name, _multiple = self._select
            chosen = self._select_chosen if self._select_chosen is not None else self._select_first
            if self._form is not None and chosen is not None:
                self._form.fields.append((name, chosen))
            self._select = None


def forms(html: str) -> list[Form]:
    parser = _FormParser()
    parser.feed(html)
    parser.close()
    return parser.forms


def duplicated_fields(html: str) -> list[tuple[str, list[str]]]:
    """[(form action, [field names posted more than once])] for every form of the page that has any."""
    return [(form.action, form.duplicated()) for form in forms(html) if form.duplicated()]


def submission(html: str, action: str, **typed: str) -> MultiDict:
    """What the form posting to `action` sends as rendered (duplicates kept, in order), with `typed` values
    replacing what the page filled in (as a person typing in those fields)."""
    found = [form for form in forms(html) if form.action == action]
    if not found:
        raise AssertionError(f"the page has no form posting to {action}: {[f.action for f in forms(html)]}")
    fields = [(name, typed.get(name, value)) for name, value in found[0].fields]
    missing = set(typed) - {name for name, _ in fields}
    if missing:
        raise AssertionError(f"the form posting to {action} has no field {sorted(missing)}")
    return MultiDict(fields)
