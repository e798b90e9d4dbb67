"""Which presentation contexts to accept, with which transfer syntax, and what
to answer to SCP/SCU role selection and extended negotiation.

Default behaviour is DCMTK storescp's (behaviour spec §3):

* each proposed context is judged on its own; its abstract syntax must be
  Verification or one of the storage SOP classes of
  `uids.STORAGE_SOP_CLASSES`; the first transfer syntax of our preference
  list (`+x=`, `+xe`, … `+xa`: `uids.PREFERENCE_LISTS`) that the peer proposed
  in that context wins, whatever the peer's order;
* `-pm` (promiscuous): a context refused because of its abstract syntax is
  accepted after all, with the same preference list, if the abstract syntax
  has no name in the UID dictionary.  DCMTK asks its own UID dictionary;
  fastscp asks pydicom's (`pydicom._uid_dict.UID_dictionary`), so a UID that
  only one of the two dictionaries knows is judged differently;
* role selection and extended negotiation proposals are answered with no
  items (the default roles).

With an association negotiation profile (`-xf`, :mod:`fastscp.profiles`) the
profile replaces all of that: only its abstract syntaxes are accepted, each
with its own transfer syntax list in file order as preference; role
selection follows the profile's `[[SCPSCURoleSelection]]` list; the
profile's extended negotiation items are sent for every accepted abstract
syntax listed, whether or not the peer asked (as storescp does).
"""
from __future__ import annotations

import logging
from fastscp.record import Record, field
from typing import TYPE_CHECKING, Dict, FrozenSet, Iterable, List, Optional, Sequence, Tuple

from fastscp import pdu_records
from fastscp.uids import (
    IMPLICIT_VR_LITTLE_ENDIAN, STORAGE_SOP_CLASS_UIDS, UNCOMPRESSED_PREFERENCE,
    VERIFICATION_SOP_CLASS,
)
from fastscp.log import APP_LOGGER

if TYPE_CHECKING:
    from fastscp.config import ServerConfig
    from fastscp.profiles import Profile

log = logging.getLogger(APP_LOGGER)

#: Transfer syntaxes the storage path cannot store.  They are left out of
#: every preference list (``+xa``, profiles), so a peer that proposes them
#: next to another syntax gets the other one, and one that proposes only them
#: gets a clear refusal (reason 4) instead of an accepted context whose every
#: C-STORE fails.  Empty now: deflated explicit VR little endian is stored by
#: :mod:`fastscp.deflate`, every other syntax of the lists by the writer.
NOT_STORABLE: FrozenSet[str] = frozenset()


def _storable(preference: Iterable[str]) -> Tuple[str, ...]:
    return tuple(ts for ts in preference if ts not in NOT_STORABLE)


_NAMED_UIDS: Optional[FrozenSet[str]] = None


def uid_has_name(uid: str) -> bool:
    """Does the UID dictionary know ``uid``?  (pydicom's dictionary stands in
    for DCMTK's; see the module documentation.)"""
    global _NAMED_UIDS
    if _NAMED_UIDS is None:
        try:
            from pydicom._uid_dict import UID_dictionary
            _NAMED_UIDS = frozenset(UID_dictionary)
        except ImportError:  # pragma: no cover - pydicom is a dependency
            _NAMED_UIDS = frozenset()
        _NAMED_UIDS = _NAMED_UIDS | {VERIFICATION_SOP_CLASS} | STORAGE_SOP_CLASS_UIDS
    return uid in _NAMED_UIDS


class Negotiation(Record):
    """The answer to an A-ASSOCIATE-RQ's proposals."""

    results: List[pdu_records.PresentationContextResult]
    #: SCP/SCU role selection sub-items for the AC: (SOP class UID, scu, scp), in order
    roles: List[Tuple[str, int, int]] = field(default_factory=list)
    #: extended negotiation sub-items for the AC: (SOP class UID, data), in order
    extended_negotiation: List[Tuple[str, bytes]] = field(default_factory=list)
    #: context id -> accepted (scu, scp) role when a role item was answered
    accepted_roles: Dict[int, Tuple[int, int]] = field(default_factory=dict)
    #: context id -> the accepted role as storescp logs it: the profile's role,
    #: whatever the role sub-item answered says (measured)
    accepted_role_names: Dict[int, str] = field(default_factory=dict)


_CONFIG_ROLE_NAMES = {"SCU": "SCU", "SCP": "SCP", "BOTH": "SCP/SCU"}


def _role_answer(config: str, proposed: Tuple[int, int]) -> Tuple[int, int]:
    """The (scu, scp) answer to a proposed role for a profile's role setting.

    Measured against storescp 3.6.7: a proposal with both fields 0 counts as
    both roles proposed."""
    scu, scp = proposed
    if not scu and not scp:
        scu = scp = 1
    if config == "SCU":
        return (0 if (not scu and scp) else 1, 0)
    if config == "SCP":
        return (0, 0 if (scu and not scp) else 1)
    return (1 if scu else 0, 1 if scp else 0)


class Negotiator:
    """Decide on the presentation contexts of an A-ASSOCIATE-RQ."""

    def __init__(self, preference: Sequence[str] = UNCOMPRESSED_PREFERENCE,
                 abstract_syntaxes: Iterable[str] = (VERIFICATION_SOP_CLASS, *STORAGE_SOP_CLASS_UIDS),
                 promiscuous: bool = False, profile: Optional["Profile"] = None):
        self.preference = _storable(preference)
        self.abstract_syntaxes = frozenset(abstract_syntaxes)
        self.promiscuous = promiscuous
        #: a :class:`fastscp.profiles.Profile`, or None
        self.profile = profile
        self._profile_prefs: Dict[str, Tuple[str, ...]] = (
            {a: _storable(p) for a, p in profile.preference().items()} if profile is not None else {})

    @classmethod
    def from_config(cls, config: "ServerConfig") -> "Negotiator":
        """The negotiator a :class:`fastscp.config.ServerConfig` asks for."""
        return cls(preference=config.transfer_syntaxes or UNCOMPRESSED_PREFERENCE,
                   promiscuous=config.promiscuous, profile=config.profile)

    # -- the two modes -------------------------------------------------------
    def _preference_for(self, abstract: str) -> Optional[Tuple[str, ...]]:
        if self.profile is not None:
            return self._profile_prefs.get(abstract)
        if abstract in self.abstract_syntaxes:
            return self.preference
        if self.promiscuous and not uid_has_name(abstract):
            return self.preference
        return None

    def negotiate(self, proposals: Sequence[pdu_records.PresentationContextProposal],
                  user: Optional[pdu_records.UserInformation] = None) -> Negotiation:
        proposed_roles = user.roles if user is not None else {}
        roles_config = self.profile.roles if self.profile is not None else {}
        out = Negotiation([])
        for pc in proposals:
            pref = self._preference_for(pc.abstract_syntax)
            if pref is None:
                out.results.append(pdu_records.PresentationContextResult(
                    pc.context_id, pdu_records.PC_ABSTRACT_SYNTAX_NOT_SUPPORTED,
                    IMPLICIT_VR_LITTLE_ENDIAN, pc.abstract_syntax))
                continue
            offered = set(pc.transfer_syntaxes)
            chosen = next((ts for ts in pref if ts in offered), None)
            if chosen is None:
                out.results.append(pdu_records.PresentationContextResult(
                    pc.context_id, pdu_records.PC_TRANSFER_SYNTAXES_NOT_SUPPORTED,
                    IMPLICIT_VR_LITTLE_ENDIAN, pc.abstract_syntax))
                continue
            config = roles_config.get(pc.abstract_syntax)
            proposed = proposed_roles.get(pc.abstract_syntax)
            if config is not None:
                if proposed is None and config == "SCP":
                    log.error("ASSOC: SCP/SCU role selection failed, Default role (i.e. SCU) "
                              "proposed but only SCP role configured for acceptance")
                    out.results.append(pdu_records.PresentationContextResult(
                        pc.context_id, pdu_records.PC_NO_REASON,
                        IMPLICIT_VR_LITTLE_ENDIAN, pc.abstract_syntax))
                    continue
                if proposed is not None:
                    answer = _role_answer(config, proposed)
                    out.roles.append((pc.abstract_syntax,) + answer)
                    out.accepted_roles[pc.context_id] = answer
                    out.accepted_role_names[pc.context_id] = _CONFIG_ROLE_NAMES[config]
            out.results.append(pdu_records.PresentationContextResult(
                pc.context_id, pdu_records.PC_ACCEPTANCE, chosen, pc.abstract_syntax))
        if self.profile is not None and self.profile.extended_negotiation:
            accepted = {r.abstract_syntax for r in out.results if r.result == pdu_records.PC_ACCEPTANCE}
            out.extended_negotiation = [(uid, data) for uid, data in self.profile.extended_negotiation
                                        if uid in accepted]
        return out

    def decide(self, proposals: Sequence[pdu_records.PresentationContextProposal]
               ) -> List[pdu_records.PresentationContextResult]:
        """Presentation context results only (no role/extended negotiation)."""
        return self.negotiate(proposals).results


# ---------------------------------------------------------------------------
# +v / -d: the association parameters, in the layout storescp logs them
# ---------------------------------------------------------------------------

_RESULT_TEXT = {
    pdu_records.PC_ACCEPTANCE: "Accepted",
    pdu_records.PC_USER_REJECTION: "User Rejection",
    pdu_records.PC_NO_REASON: "Provider Rejection",
    pdu_records.PC_ABSTRACT_SYNTAX_NOT_SUPPORTED: "Abstract Syntax Not Supported",
    pdu_records.PC_TRANSFER_SYNTAXES_NOT_SUPPORTED: "Transfer Syntaxes Not Supported",
}


def uid_display(uid: str) -> str:
    """``=Name`` for a UID with a (DCMTK-style) name, else the UID itself."""
    from fastscp import profiles, uids
    name = profiles.transfer_syntax_display_name(uid)
    if name is None:
        name = uids.sop_class_name(uid)
        if name is not None and "." in name:   # the manual's abbreviated names
            name = None
        if name is None:
            try:
                from pydicom._uid_dict import UID_dictionary
                entry = UID_dictionary.get(uid)
                name = entry[4] if entry else None
            except ImportError:  # pragma: no cover
                name = None
    return "=" + name if name else uid


def _role_text(role: Optional[Tuple[int, int]]) -> str:
    if role is None:
        return "Default"
    scu, scp = role
    if scu and scp:
        return "SCP/SCU"
    if scu:
        return "SCU"
    if scp:
        return "SCP"
    return "None"


def _proposed_role(rq: pdu_records.AssociateRequest, abstract: str) -> Optional[Tuple[int, int]]:
    role = rq.user.roles.get(abstract)
    if role is not None and not role[0] and not role[1]:
        return (1, 1)
    return role


def _extneg_lines(items: Sequence[Tuple[str, bytes]]) -> List[str]:
    out = []
    for uid, data in items:
        out.append("  %s (%s)" % (uid_display(uid), uid))
        out.append("    [%s]" % ", ".join("0x%02x" % b for b in data))
    return out


_IDENTITY_MODES = {1: "Username", 2: "Username/Password", 3: "Kerberos", 4: "SAML", 5: "JWT"}
_IDENTITY_OPAQUE = {3: "Kerberos Service Ticket", 4: "SAML Assertion", 5: "JSON Web Token"}


def _user_identity_lines(raw: bytes) -> List[str]:
    """A proposed user identity sub-item (0x58) as storescp logs it -- except
    that a password is never written to the log (storescp prints it)."""
    if len(raw) < 4:
        return ["  (malformed, %d bytes)" % len(raw)]
    mode, positive = raw[0], raw[1]
    n = int.from_bytes(raw[2:4], "big")
    primary = raw[4:4 + n]
    rest = raw[4 + n:]
    secondary = rest[2:2 + int.from_bytes(rest[:2], "big")] if len(rest) >= 2 else b""
    lines = ["  Authentication mode %d: %s" % (mode, _IDENTITY_MODES.get(mode, "Unknown"))]
    if mode in _IDENTITY_OPAQUE:
        lines.append("  %s (not dumped) length: %d" % (_IDENTITY_OPAQUE[mode], len(primary)))
    else:
        lines.append("  Username: [%s]" % primary.decode("utf-8", "replace"))
        if mode == 2:
            lines.append("  Password: (not logged) length: %d" % len(secondary))
    lines.append("  Positive Response requested: %s" % ("Yes" if positive else "No"))
    return lines


def describe_association(rq: pdu_records.AssociateRequest, our_class_uid: str, our_version: str,
                         our_max_pdu: int, negotiation: Optional[Negotiation] = None) -> str:
    """The parameter dump of an A-ASSOCIATE-RQ (negotiation None) or of the
    A-ASSOCIATE-AC answering it, as storescp logs it with ``+v``/``-d``."""
    kind = "A-ASSOCIATE-RQ" if negotiation is None else "A-ASSOCIATE-AC"
    lines = ["====================== BEGIN %s =====================" % kind,
             "Our Implementation Class UID:      %s" % our_class_uid,
             "Our Implementation Version Name:   %s" % our_version,
             "Their Implementation Class UID:    %s" % (rq.user.implementation_class_uid or ""),
             "Their Implementation Version Name: %s" % (rq.user.implementation_version_name or ""),
             "Application Context Name:    %s" % (rq.application_context or ""),
             "Calling Application Name:    %s" % rq.calling_ae,
             "Called Application Name:     %s" % rq.called_ae,
             "Responding Application Name: %s" % (rq.called_ae if negotiation is not None else ""),
             "Our Max PDU Receive Size:    %d" % our_max_pdu,
             "Their Max PDU Receive Size:  %d" % (rq.user.max_length or 0),
             "Presentation Contexts:"]
    results = {r.context_id: r for r in negotiation.results} if negotiation is not None else {}
    for pc in rq.presentation_contexts:
        proposed = _proposed_role(rq, pc.abstract_syntax)
        if negotiation is None:
            lines.append("  Context ID:        %d (Proposed)" % pc.context_id)
            lines.append("    Abstract Syntax: %s" % uid_display(pc.abstract_syntax))
            lines.append("    Proposed SCP/SCU Role: %s" % _role_text(proposed))
            lines.append("    Proposed Transfer Syntax(es):")
            lines.extend("      %s" % uid_display(ts) for ts in pc.transfer_syntaxes)
        else:
            r = results.get(pc.context_id)
            result = r.result if r is not None else pdu_records.PC_NO_REASON
            lines.append("  Context ID:        %d (%s)" % (pc.context_id, _RESULT_TEXT.get(result, result)))
            lines.append("    Abstract Syntax: %s" % uid_display(pc.abstract_syntax))
            lines.append("    Proposed SCP/SCU Role: %s" % _role_text(proposed))
            lines.append("    Accepted SCP/SCU Role: %s"
                         % negotiation.accepted_role_names.get(pc.context_id, "Default"))
            if r is not None and result == pdu_records.PC_ACCEPTANCE:
                lines.append("    Accepted Transfer Syntax: %s" % uid_display(r.transfer_syntax))
    requested = list(rq.user.extended_negotiation.items())
    if requested:
        lines.append("Requested Extended Negotiation:")
        lines.extend(_extneg_lines(requested))
    else:
        lines.append("Requested Extended Negotiation: none")
    accepted = negotiation.extended_negotiation if negotiation is not None else []
    if accepted:
        lines.append("Accepted Extended Negotiation:")
        lines.extend(_extneg_lines(accepted))
    else:
        lines.append("Accepted Extended Negotiation:  none")
    if rq.user.user_identity is None:
        lines.append("Requested User Identity Negotiation: none")
    else:
        lines.append("Requested User Identity Negotiation:")
        lines.extend(_user_identity_lines(rq.user.user_identity))
    lines.append("User Identity Negotiation Response:  none")
    lines.append("======================= END %s ======================" % kind)
    return "\n".join(lines)
