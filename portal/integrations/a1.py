"""The reseller's ICP-Brasil A1 certificate (e-CNPJ): the key that signs every fiscal XML (the NFS-e Nacional's DPS
and events, São Paulo's RPS and messages) and the client certificate of their mTLS connections.

- `load_pkcs12(path, password)`: the PKCS#12 (.pfx/.p12) file the certificate authority issued, with its password
  (`FISCAL_CERT_FILE`, `FISCAL_CERT_PASSWORD`). `cryptography` reads the legacy RC2-encrypted files too.
- `development_a1(directory, cnpj, name)`: in development, when no certificate is configured, a self-signed A1
  **marked as a development certificate** ("DESENVOLVIMENTO - SEM VALIDADE JURIDICA"), made once and kept in
  `directory` (instance/), so that `flask fiscal dps` signs on a fresh `make run`. No authority accepts it.
- `A1.cnpj`: the holder's CNPJ, from the ICP-Brasil SAN otherName 2.16.76.1.3.3 (the authorities check it against
  the prestador: the NFS-e Nacional's E0718, São Paulo's 1107), else from the subject's CN "NAME:CNPJ".
- `A1.pem_files()`: the certificate and key as PEM files (Python's ssl module loads a client certificate only from
  files), written once to a private temporary directory.
"""

import os
import tempfile
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from portal.shared import clock

ICP_BRASIL_CNPJ_OID = x509.ObjectIdentifier("2.16.76.1.3.3")  # SAN otherName: the e-CNPJ's CNPJ
DEVELOPMENT_MARK = "DESENVOLVIMENTO - SEM VALIDADE JURIDICA"
DEVELOPMENT_FILE = "a1-desenvolvimento.p12"
DEVELOPMENT_PASSWORD = b"desenvolvimento"


class CertificateError(Exception):
    """The A1 cannot be used (file missing, wrong password, no private key, expired). The message is for
    operators and says which."""


@dataclass
class A1:
    key: rsa.RSAPrivateKey
    certificate: x509.Certificate
    chain: list[x509.Certificate] = field(default_factory=list)
    development: bool = False
    _files: tuple[str, str] | None = field(default=None, repr=False)

    @property
    def cnpj(self) -> str:
        return certificate_cnpj(self.certificate)

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())

    @property
    def certificate_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def chain_pem(self) -> bytes:
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in [self.certificate, *self.chain])

    def pem_files(self) -> tuple[str, str]:
        """(certificate chain file, key file) for `ssl.SSLContext.load_cert_chain`; private (0600), made once."""
        if self._files is None:
            directory = tempfile.mkdtemp(prefix="a1-")
            cert_path, key_path = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
            for path, content in ((cert_path, self.chain_pem), (key_path, self.key_pem)):
                descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(descriptor, "wb") as handle:
                    handle.write(content)
            self._files = (cert_path, key_path)
        return self._files


def certificate_cnpj(certificate: x509.Certificate) -> str:
    """The CNPJ an ICP-Brasil e-CNPJ certifies: SAN otherName 2.16.76.1.3.3 (a DER string of the 14 characters),
    else the digits after the last ":" of the subject's CN. "" when neither says one."""
    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        names = None
    if names is not None:
        for other in names.get_values_for_type(x509.OtherName):
            if other.type_id == ICP_BRASIL_CNPJ_OID:
                value = _der_string(other.value)
                if value:
                    return value
    common_names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if common_names:
        tail = str(common_names[0].value).rsplit(":", 1)[-1].strip()
        if len(tail) == 14 and tail.isalnum():
            return tail.upper()
    return ""


def _der_string(der: bytes) -> str:
    """The text of a DER-encoded string (PrintableString, UTF8String, OCTET STRING …) of fewer than 128 bytes."""
    if len(der) < 2 or der[1] >= 0x80:
        return ""
    return der[2:2 + der[1]].decode("ascii", "replace").strip()


def der_printable_string(text: str) -> bytes:
    """`text` as a DER PrintableString (the value of the SAN otherName an ICP-Brasil certificate carries)."""
    raw = text.encode("ascii")
    return bytes([0x13, len(raw)]) + raw


def load_pkcs12(path: str | os.PathLike, password: str | bytes | None) -> A1:
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise CertificateError(f"A1 certificate file {path} cannot be read: {error.strerror}") from error
    secret = password.encode() if isinstance(password, str) else password
    try:
        key, certificate, chain = pkcs12.load_key_and_certificates(data, secret or None)
    except ValueError as error:
        raise CertificateError(f"A1 certificate {path}: wrong password or not a PKCS#12 file") from error
    if key is None or certificate is None:
        raise CertificateError(f"A1 certificate {path} holds no private key and certificate")
    if not isinstance(key, rsa.RSAPrivateKey):
        raise CertificateError(f"A1 certificate {path}: the key is not RSA (ICP-Brasil A1 keys are)")
    if certificate.not_valid_after_utc < clock.now():
        raise CertificateError(f"A1 certificate {path} expired on {certificate.not_valid_after_utc:%Y-%m-%d}")
    return A1(key=key, certificate=certificate, chain=list(chain or []),
              development=DEVELOPMENT_MARK in certificate.subject.rfc4514_string())


def pkcs12_bytes(a1: A1, password: bytes) -> bytes:
    return pkcs12.serialize_key_and_certificates(
        b"a1", a1.key, a1.certificate, a1.chain or None,
        serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption())


def make_certificate(cnpj: str, name: str, *, issuer_key: rsa.RSAPrivateKey | None = None,
                     issuer: x509.Certificate | None = None, mark: str = "", days: int = 365,
                     key: rsa.RSAPrivateKey | None = None) -> A1:
    """An A1-shaped certificate for `cnpj` (SAN otherName 2.16.76.1.3.3, EKU clientAuth), signed by `issuer`
    (self-signed when None). For the development A1 and for tests' throwaway authorities."""
    key = key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "BR"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ICP-Brasil"),
        *([x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, mark)] if mark else []),
        x509.NameAttribute(NameOID.COMMON_NAME, f"{name[:40]}:{cnpj}"),
    ])
    now = clock.now()
    builder = (x509.CertificateBuilder().subject_name(subject)
               .issuer_name(issuer.subject if issuer is not None else subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=days))
               .add_extension(x509.SubjectAlternativeName([
                   x509.OtherName(ICP_BRASIL_CNPJ_OID, der_printable_string(cnpj))]), critical=False)
               .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True))
    certificate = builder.sign(issuer_key or key, hashes.SHA256())
    return A1(key=key, certificate=certificate, chain=[issuer] if issuer is not None else [],
              development=DEVELOPMENT_MARK in mark)


def development_a1(directory: str | os.PathLike, cnpj: str, name: str) -> A1:
    """The development A1 kept in `directory` (made the first time; a new one when it expired or names another
    CNPJ). Marked DESENVOLVIMENTO: self-signed, no authority accepts it."""
    path = Path(directory) / DEVELOPMENT_FILE
    if path.exists():
        try:
            a1 = load_pkcs12(path, DEVELOPMENT_PASSWORD)
            if a1.cnpj == cnpj:
                return a1
        except CertificateError:
            pass
    a1 = make_certificate(cnpj, name, mark=DEVELOPMENT_MARK)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_bytes(pkcs12_bytes(a1, DEVELOPMENT_PASSWORD))
    os.chmod(temporary, 0o600)
    temporary.replace(path)
    return a1


def from_config(config, instance_path: str, *, cnpj: str, name: str) -> A1 | None:
    """`FISCAL_CERT_FILE` + `FISCAL_CERT_PASSWORD` when set; otherwise, outside production, the development A1 in
    `instance_path`; in production None (an adapter that needs one refuses to start)."""
    if config.get("FISCAL_CERT_FILE"):
        return load_pkcs12(config["FISCAL_CERT_FILE"], config.get("FISCAL_CERT_PASSWORD") or "")
    if config.get("PORTAL_ENV") == "production":
        return None
    return development_a1(instance_path, cnpj, name)
