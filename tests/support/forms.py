"""Reading the forms a page renders, as a browser would submit them (standard library HTML parser, no browser).

View tests that post a hand-made dict cannot see what the template sends: a field written twice (WTForms'
`hidden_tag()` plus a hand-written `<input type=hidden>` of the same name) reaches the view as two values, of
which WTForms reads the first. `forms(html)` lists each form's controls in document order; `duplicated_fields`
names the ones a form posts more than once; `submission(html, action)` is what pressing that form's button posts.
"""

from dataclasses import dataclass, field
from html.parser import HTMLParser

from werkzeug.datastructures import MultiDict

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
