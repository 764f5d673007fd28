"""The templates' environment writes `{{ … }}` as markupsafe would, without a Markup per piece."""

import pytest
from flask import Flask
from flask.templating import Environment  # Flask's own, as the app had before
from jinja2 import (
    DictLoader,
    StrictUndefined,
    Undefined,
    UndefinedError,
    pass_context,
    pass_environment,
    pass_eval_context,
)
from markupsafe import Markup, escape

from portal.shared.templating import PortalEnvironment, escape_output


class _Html:
    def __html__(self):
        return "<b>already safe</b>"


class _Text(str):
    pass


class _Number:
    def __str__(self):
        return "1 < 2 & \"3\" > '0'"


@pytest.mark.parametrize("value", [
    "", "plain", "<script>alert('x')</script>", "a & b \"c\" 'd' > e", "ação — R$ 1.234,56", "\x00<\u2028>",
    Markup("<i>kept</i>"), _Html(), _Text("<sub>class</sub>"), _Number(), 0, -12.5, None, True, Undefined(),
])
def test_escape_output_is_markupsafe_escape_as_a_plain_string(value):
    written = escape_output(value)

    assert written == str(escape(value))
    assert type(written) is str or isinstance(value, Markup)


def test_a_strict_undefined_still_raises():
    with pytest.raises(UndefinedError):
        escape_output(StrictUndefined(name="missing"))


TEMPLATES = {
    "page.html": """{% from "macros.html" import cell, wrap with context %}
{%- for r in rows %}<td title="{{ r }}">{{ r }}</td>{{ cell(r) }}{% endfor %}
{%- set kept %}<i>{{ rows[0] }}</i>{% endset %}{{ kept }}|{{ kept|length }}|{{ kept|upper }}
{%- call wrap() %}<u>{{ rows[0] }}</u>{% endcall %}
{%- filter upper %}<s>{{ rows[0] }}</s>{% endfilter %}
{%- autoescape false %}{{ rows[0] }}{% endautoescape %}{% autoescape true %}{{ rows[0] }}{% endautoescape %}
{%- include "row.html" %}{{ ("<x>" ~ rows[0]) }}{{ "<const>" }}{{ 1 + 2 }}{{ sentence % {"v": rows[0]} }}""",
    "calls.html": """{% for r in rows %}{% set seen = loop.index %}"""
                  """[{{ plain(r) }}|{{ sees_loop(r) }}|{{ autoescapes() }}|{{ named() }}|{{ table.get(loop.index) }}"""
                  """|{{ callable_object() }}|{{ stops() }}|{{ method() }}]{% endfor %}""",
    "macros.html": """{% macro cell(v) %}<em>{{ v }}</em>{% endmacro %}"""
                   """{% macro wrap() %}<div>{{ caller() }}</div>{% endmacro %}""",
    "row.html": """<tr>{{ rows[1] }}</tr>""",
    "mail.txt": """{{ rows[0] }} {{ rows[2] }}""",
}


class _CallableObject:
    @pass_context
    def __call__(self, context):
        return f"object sees {context.get('seen')}"


class _Methods:
    suffix = "!"

    def method(self):
        return "method" + self.suffix


def _stops():
    raise StopIteration


def _render(environment_class, name):
    app = Flask(__name__)
    app.jinja_environment = environment_class
    app.jinja_env.loader = DictLoader(TEMPLATES)
    return app.jinja_env.get_template(name).render(
        rows=["<a href='x'>&</a>", 42, Markup("<b>safe</b>"), None], sentence=Markup("<p>%(v)s</p>"),
        plain=lambda value: f"plain {value}", sees_loop=pass_context(lambda context, value: f"{context.get('seen')}"),
        autoescapes=pass_eval_context(lambda eval_ctx: eval_ctx.autoescape),
        named=pass_environment(lambda environment: type(environment).__name__.endswith("Environment")),
        table={1: "one", 2: "<two>"}, callable_object=_CallableObject(), stops=_stops, method=_Methods().method)


@pytest.mark.parametrize("name", ["page.html", "mail.txt", "calls.html"])
def test_pages_are_written_exactly_as_with_jinjas_own_escaping(name):
    portal = _render(PortalEnvironment, name)
    jinja = _render(Environment, name)

    assert portal == jinja
    if name == "page.html":
        assert "&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt;" in portal and "<a href='x'>" in portal  # both modes ran
    elif name == "mail.txt":
        assert portal == "<a href='x'>&</a> <b>safe</b>"  # .txt: no escaping at all
    else:  # each kind of callable got what it asks for, inside a loop that sets a variable
        first = "[plain &lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt;|1|True|True|one|object sees 1||method!]"
        assert portal.startswith(first)
        assert portal.endswith("[plain None|4|True|True|None|object sees 4||method!]")


def test_the_app_compiles_its_templates_with_the_plain_string_escape(app):
    source = app.jinja_env.loader.get_source(app.jinja_env, "base.html")[0]

    assert isinstance(app.jinja_env, PortalEnvironment)
    assert "_escape_output(" in app.jinja_env.compile(source, "base.html", raw=True)
