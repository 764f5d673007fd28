"""Accounts' background work: the "Esqueci minha senha" e-mail, queued whether or not the address exists."""

from portal.accounts import service
from portal.jobs import task
from portal.shared.audit import Actor


@task(retries=3, retry_delay=30)
def send_password_reset(email: str, ip: str | None, user_agent: str | None) -> bool:
    return service.send_password_reset(email, actor=Actor.anonymous(ip=ip, user_agent=user_agent))
