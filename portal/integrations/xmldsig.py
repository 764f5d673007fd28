"""Enveloped XML signatures (XMLDSig) of fiscal XML, as the NFS-e authorities want them, through `signxml`.

The shape (specs/nfse-nacional.md §3; São Paulo's messages the same): `<Signature
xmlns="http://www.w3.org/2000/09/xmldsig#">` without a prefix as the LAST child of the signed root, one Reference to
`#<Id>` of the element that carries the data (`infDPS`, `infPedReg`), transforms enveloped-signature + inclusive
C14N 1.0, KeyInfo/X509Data/X509Certificate = the signer's certificate; RSA-SHA256 by default (`algorithm="sha1"`
for authorities that want RSA-SHA1).

`sign` gives the bytes to send: the signed tree as it is (never re-indented), with the UTF-8 prolog.

`verify` checks a signature the way the authorities do, by hand with lxml and `cryptography` (the spec measured that
signxml 5.2's XMLVerifier rejects valid signatures, and that an in-place C14N of a subtree in lxml emits a spurious
`xmlns=""`: the referenced element is canonicalised from a deep copy). It returns the signer's certificate.
"""

import base64
import copy
import hashlib

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from lxml import etree
from signxml import XMLSigner, methods
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod

from portal.integrations.a1 import A1

DS = "http://www.w3.org/2000/09/xmldsig#"
C14N = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
_ALGORITHMS = {
    "sha256": (SignatureMethod.RSA_SHA256, DigestAlgorithm.SHA256),
    "sha1": (SignatureMethod.RSA_SHA1, DigestAlgorithm.SHA1),
}
_DIGESTS = {"http://www.w3.org/2001/04/xmlenc#sha256": hashlib.sha256, "http://www.w3.org/2000/09/xmldsig#sha1":
            hashlib.sha1}
_SIGNATURES = {"http://www.w3.org/2001/04/xmldsig-more#rsa-sha256": hashes.SHA256(),
               "http://www.w3.org/2000/09/xmldsig#rsa-sha1": hashes.SHA1()}  # noqa: S303 - the authority's choice


class _Signer(XMLSigner):
    """signxml's signer, allowing RSA-SHA1 when asked for it explicitly: São Paulo's web service accepts nothing else
    (specs/nfse-sao-paulo.md §3); the default stays RSA-SHA256."""

    def check_deprecated_methods(self) -> None:
        return None


class SignatureInvalid(Exception):
    """The XML's signature does not check; the message says which part (for fakes, tests and support)."""


def sign(root: etree._Element, reference_id: str | None, a1: A1, *, algorithm: str = "sha256") -> bytes:
    """`root` signed, as the bytes to send (UTF-8 prolog, not re-indented): the Signature is appended as its last
    child, referencing `#reference_id`, or the whole document (`URI=""`) when `reference_id` is None. (signxml's
    own tree of the result names the default-namespace Signature oddly in memory: only its bytes are used.)"""
    signature_method, digest_method = _ALGORITHMS[algorithm]
    signer = _Signer(method=methods.enveloped, signature_algorithm=signature_method,
                     digest_algorithm=digest_method, c14n_algorithm=CanonicalizationMethod.CANONICAL_XML_1_0)
    signer.namespaces = {None: DS}
    return serialize(signer.sign(root, key=a1.key, cert=[a1.certificate],
                                 reference_uri=f"#{reference_id}" if reference_id is not None else None,
                                 always_add_key_value=False))


def serialize(root: etree._Element) -> bytes:
    """The bytes to send: UTF-8 prolog, the tree exactly as it is (no pretty-printing)."""
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _c14n(element: etree._Element) -> bytes:
    return etree.tostring(copy.deepcopy(element), method="c14n")


def _one(parent: etree._Element, path: str) -> etree._Element:
    found = parent.find(path, {"ds": DS})
    if found is None:
        raise SignatureInvalid(f"the signature has no {path}")
    return found


def verify(root: etree._Element, *, id_attribute: str = "Id") -> x509.Certificate:
    """Check the enveloped signature that is `root`'s last child: the reference is `#Id` of an element of the tree,
    its digest matches, and SignedInfo's signature checks with the embedded certificate (returned)."""
    signature = root[-1] if len(root) else None
    if signature is None or signature.tag != f"{{{DS}}}Signature":
        raise SignatureInvalid("the last child is not a ds:Signature")
    signed_info = _one(signature, "ds:SignedInfo")
    if _one(signed_info, "ds:CanonicalizationMethod").get("Algorithm") != C14N:
        raise SignatureInvalid("canonicalization is not C14N 1.0 inclusive")
    references = signed_info.findall("ds:Reference", {"ds": DS})
    if len(references) != 1:
        raise SignatureInvalid("the signature must have exactly one Reference")
    reference = references[0]
    uri = reference.get("URI")
    if uri == "":  # the whole document
        targets = [root]
    elif uri is not None and uri.startswith("#"):
        targets = [e for e in root.iter() if e.get(id_attribute) == uri[1:]]
    else:
        raise SignatureInvalid(f"the reference {uri!r} is neither the document nor a local #Id")
    if len(targets) != 1:
        raise SignatureInvalid(f"the reference {uri} names {len(targets)} elements")
    transforms = [t.get("Algorithm") for t in reference.findall("ds:Transforms/ds:Transform", {"ds": DS})]
    if any(t not in (ENVELOPED, C14N) for t in transforms):
        raise SignatureInvalid(f"unexpected transforms {transforms}")
    digest = _DIGESTS.get(_one(reference, "ds:DigestMethod").get("Algorithm"))
    if digest is None:
        raise SignatureInvalid("unknown digest method")
    target = targets[0]
    if target is root:  # the enveloped transform: the signature itself is not part of what was digested
        target = copy.deepcopy(root)
        target.remove(target[-1])
    expected = base64.b64decode("".join(_one(reference, "ds:DigestValue").text.split()))
    if digest(_c14n(target)).digest() != expected:
        raise SignatureInvalid("the digest of the signed element does not match (the XML was changed)")
    certificate_text = _one(signature, "ds:KeyInfo/ds:X509Data/ds:X509Certificate").text or ""
    certificate = x509.load_der_x509_certificate(base64.b64decode("".join(certificate_text.split())))
    algorithm = _SIGNATURES.get(_one(signed_info, "ds:SignatureMethod").get("Algorithm"))
    if algorithm is None:
        raise SignatureInvalid("unknown signature method")
    value = base64.b64decode("".join((_one(signature, "ds:SignatureValue").text or "").split()))
    try:
        certificate.public_key().verify(value, _c14n(signed_info), padding.PKCS1v15(), algorithm)
    except InvalidSignature as error:
        raise SignatureInvalid("the signature value does not check with the embedded certificate") from error
    return certificate
