"""The portal's `html_params` writes exactly what WTForms' own writes (portal/shared/forms.py installs it)."""

import pytest
from markupsafe import Markup
from wtforms import Form, StringField
from wtforms.widgets import core

from portal.shared.forms import html_params, wtforms_html_params

CASES = [
    {},
    {"id": "name", "name": "name", "type": "text", "value": "Ana"},
    {"value": 'Jo"ão <b>&amp;</b> \'x\''},  # quotes, tags, an entity, an apostrophe
    {"value": Markup('já <em>seguro</em> "aspas"')},  # Markup is kept, its quotes become &quot;
    {"required": True, "disabled": False, "readonly": True},
    {"class_": "form-control", "for_": "x", "data_user_id": 7, "aria_describedby": "a-help b-error"},
    {"min": 0, "max": 1.5, "step": None, "value": ""},
    {"data-raw": "<x>", "aria_invalid": "true", "autocomplete": "new-password"},
]


@pytest.mark.parametrize("attributes", CASES)
def test_the_same_attributes_as_wtforms(attributes):
    assert html_params(**attributes) == wtforms_html_params(**attributes)
    assert isinstance(html_params(**attributes), Markup)


def test_installed_where_wtforms_widgets_look_it_up():
    assert core.html_params is html_params
    assert core.Input.html_params is html_params and core.Button.html_params is html_params

    class Sample(Form):
        name = StringField()

    rendered = Sample(data={"name": 'A "B" <c>'}).name(class_="form-control", required=True)
    assert rendered == Markup('<input class="form-control" id="name" name="name" required type="text" '
                              'value="A &#34;B&#34; &lt;c&gt;">')
