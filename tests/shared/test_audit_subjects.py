"""Who acted, as staff read it on the audit pages: never "system:billing" (issue 13, point 9)."""

import pytest
from flask_babel import force_locale

from portal.shared.audit import Actor
from portal.shared.audit_subjects import actor_label


@pytest.mark.parametrize(
    ("label", "portuguese", "english"),
    [
        (Actor.system("billing").label, "Sistema (faturamento)", "System (billing)"),
        (Actor.system("webhook:stripe").label, "Sistema (notificação recebida)", "System (incoming notification)"),
        (Actor.system("onboarding:esign").label, "Sistema (contratação)", "System (onboarding)"),
        ("system:unheard-of", "Sistema", "System"),
        (Actor.anonymous(ip="127.0.0.1").label, "Anônimo", "Anonymous"),
        ("ana@cliente.example.com", "ana@cliente.example.com", "ana@cliente.example.com"),
        (None, "—", "—"),
    ],
)
def test_an_actor_reads_as_words_in_both_languages(app_ctx, label, portuguese, english):
    with app_ctx.test_request_context():
        with force_locale("pt_BR"):
            assert actor_label(label) == portuguese
        with force_locale("en"):
            assert actor_label(label) == english
