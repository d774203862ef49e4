# -*- coding: utf-8 -*-
# Copyright: (c) 2026, opstack.conductor contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Raft servers as every module takes them (a leaf: imports only ``_errors``).

The server type, the suffrage vocabulary, the ID and address rules, the ``servers`` option spec and the one drift
comparison. The offline modules (raft_*), the live modules (conductor_*) and the controller plugins all validate a
server list here, so a list one of them accepts is accepted by all of them.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Mapping, Sequence, Tuple, Union

from ansible_collections.opstack.conductor.plugins.module_utils._errors import OpstackError

# hashicorp/raft configuration.go ServerSuffrage: the numbers on disk and on the wire, the names we show.
VOTER = "voter"
NONVOTER = "nonvoter"
STAGING = "staging"  # deprecated in raft, never written by us; read and shown as it is
SUFFRAGES = {0: VOTER, 1: NONVOTER, 2: STAGING}
SUFFRAGE_VALUES = {name: value for value, name in SUFFRAGES.items()}
WRITABLE_SUFFRAGES = (VOTER, NONVOTER)

# A directory name (255 bytes on every filesystem op-conductor runs on) that leaves room for the siblings written
# beside it: `.<id>.opstack-new-<hex>.ino<inode>` (+50 bytes), `<id>.<pid>.<time>.<hex>~`, and backups
# `raft-backup-<time>-<id>-<hex>.partial` (+53). Longer IDs validated but then failed with ENAMETOOLONG.
MAX_SERVER_ID_BYTES = 200
MAX_ADDRESS_BYTES = 1024


class SpecError(OpstackError, ValueError):
    """A cluster spec that must not be written; the message names the field and the value."""

    def __init__(self, field: str, value: Any, reason: str):
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__("%s=%r: %s" % (field, value, reason))


@dataclass(frozen=True)
class Server:
    id: str
    address: str
    suffrage: str = VOTER

    def to_dict(self) -> Dict[str, str]:
        return {"id": self.id, "address": self.address, "suffrage": self.suffrage}


def validate_server_id(value: Any, field: str = "server_id") -> str:
    """op-conductor joins the server ID onto its storage dir, so it must be a safe single directory name."""
    if not isinstance(value, str) or value == "":
        raise SpecError(field, value, "must be a non-empty string")
    if len(value.encode("utf-8", "surrogatepass")) > MAX_SERVER_ID_BYTES:
        raise SpecError(field, value, "longer than %d bytes" % MAX_SERVER_ID_BYTES)
    if "/" in value or "\\" in value:
        raise SpecError(field, value, "contains a path separator; op-conductor uses the ID as a directory name")
    if value in (".", "..") or value.startswith("."):
        raise SpecError(field, value, "starts with a dot; it would be a hidden or parent directory")
    for char in value:
        category = unicodedata.category(char)
        if char != " " and category[0] in ("C", "Z"):
            raise SpecError(field, value, "contains the non-printable character U+%04X" % ord(char))
    if value != value.strip():
        raise SpecError(field, value, "has leading or trailing spaces")
    return value


def validate_address(value: Any, field: str = "address") -> str:
    """host:port as raft's TCP transport dials it; IPv6 literals in brackets."""
    if not isinstance(value, str) or not value:
        raise SpecError(field, value, "must be a non-empty host:port string")
    if len(value.encode("utf-8", "surrogatepass")) > MAX_ADDRESS_BYTES:
        raise SpecError(field, value, "longer than %d bytes" % MAX_ADDRESS_BYTES)
    if any(unicodedata.category(char)[0] in ("C", "Z") for char in value):
        raise SpecError(field, value, "contains whitespace or a control character")
    if value.startswith("["):
        host, sep, port = value[1:].partition("]:")
        if not sep:
            raise SpecError(field, value, "bracketed IPv6 address must be followed by :port")
        import ipaddress  # here, not at the top: only a bracketed address needs it (reading a node never does)

        try:
            ipaddress.IPv6Address(host.split("%", 1)[0])
        except ValueError:
            raise SpecError(field, value, "%r is not an IPv6 address" % host)
    else:
        host, sep, port = value.rpartition(":")
        if not sep or not host:
            raise SpecError(field, value, "must be host:port")
        if ":" in host:
            raise SpecError(field, value, "IPv6 addresses must be written in brackets, as [addr]:port")
    if not port.isdigit() or not 1 <= int(port) <= 65535 or port != str(int(port)):
        raise SpecError(field, value, "port must be a number from 1 to 65535")
    return value


def configuration_warnings(configuration: Any) -> List[str]:
    """What in a stored configuration Raft accepts but a cluster may not be able to use: an address that is not
    host:port as our validation accepts it (found by fuzzing: a changed byte dropped the port, every decoder still
    read the entry). Go's dialer is laxer in places (a port name, a leading zero), hence a warning.
    ``configuration`` is a raft.Configuration (anything with ``servers`` of Server)."""
    warnings = []
    for server in configuration.servers:
        if server.address == "":
            continue  # a problem, not a warning: raft's checkConfiguration rejects it (_node_state)
        try:
            validate_address(server.address)
        except SpecError as exc:
            warnings.append("configuration server %r: address %r: %s (as raft's TCP transport dials it); the "
                            "other nodes may not reach it" % (server.id, server.address, exc.reason))
    return warnings


def server_id_key(server_id: str) -> str:
    """What two server IDs must not share: IDs that differ only in case or Unicode normalisation name one directory
    on case- or normalisation-insensitive filesystems."""
    return unicodedata.normalize("NFKC", server_id).casefold()


def address_key(address: str) -> str:
    """What two consensus addresses must not share (host names ignore case)."""
    return address.lower()


def parse_servers(servers: Any, field: str = "servers") -> Tuple[Server, ...]:
    if not isinstance(servers, (list, tuple)) or not servers:
        raise SpecError(field, servers, "must be a non-empty list of {id, address, suffrage}")
    parsed = []
    seen_ids = {}  # type: Dict[str, str]
    seen_addresses = {}  # type: Dict[str, str]
    for position, entry in enumerate(servers):
        where = "%s[%d]" % (field, position)
        if not isinstance(entry, Mapping):
            raise SpecError(where, entry, "must be a mapping with id and address")
        unknown = set(entry) - {"id", "address", "suffrage"}
        if unknown:
            raise SpecError(where, entry, "unknown keys %s" % ", ".join(sorted(map(str, unknown))))
        server_id = validate_server_id(entry.get("id"), where + ".id")
        address = validate_address(entry.get("address"), where + ".address")
        suffrage = entry.get("suffrage") or VOTER
        if suffrage not in WRITABLE_SUFFRAGES:
            raise SpecError(where + ".suffrage", suffrage, "must be voter or nonvoter")
        folded = server_id_key(server_id)
        if folded in seen_ids:
            raise SpecError(where + ".id", server_id, "duplicates %s (IDs that differ only in case or Unicode "
                                                      "normalisation would share a directory on case- or "
                                                      "normalisation-insensitive filesystems)" % seen_ids[folded])
        if address_key(address) in seen_addresses:
            raise SpecError(where + ".address", address, "already used by %s" % seen_addresses[address_key(address)])
        seen_ids[folded] = server_id
        seen_addresses[address_key(address)] = server_id
        parsed.append(Server(server_id, address, suffrage))
    return tuple(parsed)


def server_dicts(servers: Any, field: str = "servers") -> List[Dict[str, str]]:
    """parse_servers() as plain ``{id, address, suffrage}`` dicts (what manifests and RPC calls carry)."""
    return [server.to_dict() for server in parse_servers(servers, field)]


def server_list_spec(required: bool = False) -> dict:
    """The ``servers`` / ``expected_servers`` option (documented once in the ``servers`` doc fragment)."""
    return dict(type="list", elements="dict", required=required, options=dict(
        id=dict(type="str", required=True),
        address=dict(type="str", required=True),
        suffrage=dict(type="str", choices=list(WRITABLE_SUFFRAGES), default=VOTER),
    ))


ServerLike = Union[Server, Mapping[str, str]]


def _as_dict(server: ServerLike) -> Mapping[str, str]:
    return server.to_dict() if isinstance(server, Server) else server


def server_text(server: ServerLike) -> str:
    """One server as diffs and messages show it: ``<id> <address> (<suffrage>)`` (voter when not given)."""
    entry = _as_dict(server)
    return "%s %s (%s)" % (entry["id"], entry["address"], entry.get("suffrage", VOTER))


def drift(want: Iterable[ServerLike], have: Iterable[ServerLike], labels: Sequence[str] = ("want", "have"),
          fields: Sequence[str] = ("address", "suffrage")) -> Dict[str, Any]:
    """How ``have`` differs from ``want`` (Server objects or {id, address, suffrage} dicts), by server ID:
    ``{in_sync, missing: [id], extra: [id], changed: [{id, <labels[0]>: {fields}, <labels[1]>: {fields}}]}``,
    IDs in the order of ``want`` (missing, changed) and of ``have`` (extra). A server whose address or suffrage
    differs is changed; ``labels`` and ``fields`` name the two sides and what each side shows of a server."""
    wanted = {entry["id"]: entry for entry in map(_as_dict, want)}
    found = {entry["id"]: entry for entry in map(_as_dict, have)}
    changed = []
    for server_id, entry in wanted.items():
        other = found.get(server_id)
        if other is not None and (other["address"], other["suffrage"]) != (entry["address"], entry["suffrage"]):
            changed.append({"id": server_id, labels[0]: {name: entry[name] for name in fields},
                            labels[1]: {name: other[name] for name in fields}})
    missing = [server_id for server_id in wanted if server_id not in found]
    extra = [server_id for server_id in found if server_id not in wanted]
    return dict(in_sync=not (changed or missing or extra), missing=missing, extra=extra, changed=changed)
