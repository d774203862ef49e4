# -*- coding: utf-8 -*-
# Copyright: (c) 2026, opstack.conductor contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# PRIVATE to this collection: may change at any time; do not use from other collections.
"""op-conductor's JSON-RPC API (namespace ``conductor``) and op-node's admin API, for the live modules.

No AnsibleModule import here: the modules build theirs from :func:`rpc_argument_spec` (or
:func:`connection_argument_spec`) and run their work function, wrapped by :func:`live_work` (which checks the shared
options and connects), through ``_runner.run``, which turns RPC errors into failed results as for every module.

* JSON-RPC errors arrive with HTTP 200 and an ``error`` member; they raise :class:`RPCError` with the
  server's message. ``-32601`` (method not found) raises :class:`MethodMissing`, whose message names the
  op-conductor feature (and the version that added it) the server lacks.
* Every wait is bounded in time and in iterations (:func:`poll`).
* What the nodes say together is in ``_cluster_view``; membership changes in ``_membership``; leadership
  transfers in ``_leadership``. A module imports only what it uses, so its AnsiballZ payload carries only that.
"""

from __future__ import annotations

import json
import socket
import time
from urllib import request as urllib_request
from urllib.error import HTTPError, URLError
from ansible_collections.opstack.conductor.plugins.module_utils import _runner as runner
from ansible_collections.opstack.conductor.plugins.module_utils import _servers as servers
from ansible_collections.opstack.conductor.plugins.module_utils._errors import OpstackError

try:
    from ansible.module_utils.urls import open_url
except ImportError:  # pragma: no cover - outside Ansible (plain scripts)
    open_url = None

_OPENER = []


class _NoRedirect(urllib_request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def _plain_opener():
    """One urllib opener for plain-HTTP endpoints (honours the *_proxy environment; never follows redirects)."""
    if not _OPENER:
        _OPENER.append(urllib_request.build_opener(_NoRedirect()))
    return _OPENER[0]


VOTER = servers.VOTER
NONVOTER = servers.NONVOTER

#: What a missing method means: the op-conductor feature and when it appeared.
FEATURES = {
    "conductor_leader": "the conductor RPC API itself (op-conductor >= v0.0.1-rc.1, 2024-05)",
    "conductor_leaderWithID": "conductor_leaderWithID (op-conductor >= v0.0.1-rc.1, 2024-05)",
    "conductor_clusterMembership": "conductor_clusterMembership (op-conductor >= v0.0.1-rc.1, 2024-05)",
    "conductor_paused": "conductor_paused (op-conductor >= v0.0.1-rc.1)",
    "conductor_stopped": "conductor_stopped (added with conductor_stop, 2024)",
    "conductor_active": "conductor_active (op-conductor >= v0.0.1-rc.1)",
    "conductor_sequencerHealthy": "conductor_sequencerHealthy (op-conductor >= v0.0.1-rc.1)",
    "conductor_pause": "conductor_pause (op-conductor >= v0.0.1-rc.1)",
    "conductor_resume": "conductor_resume (op-conductor >= v0.0.1-rc.1)",
    "conductor_overrideLeader": "conductor_overrideLeader (leader override, added 2024; missing in early-2024 builds)",
    "conductor_leaderOverridden": "conductor_leaderOverridden (leader override, added 2024; missing in early-2024 builds)",
    "conductor_transferLeaderToServer": "conductor_transferLeaderToServer (op-conductor >= v0.0.1-rc.1)",
    "conductor_addServerAsVoter": "conductor_addServerAsVoter (op-conductor >= v0.0.1-rc.1)",
    "conductor_addServerAsNonvoter": "conductor_addServerAsNonvoter (op-conductor >= v0.0.1-rc.1)",
    "conductor_removeServer": "conductor_removeServer (op-conductor >= v0.0.1-rc.1)",
    "conductor_demoteVoter": "conductor_demoteVoter (optimism PR #18700, 2026; older builds demote by remove and re-add)",
    "admin_sequencerActive": "op-node's admin API (enable it with --rpc.enable-admin on op-node)",
    "admin_startSequencer": "op-node's admin API (enable it with --rpc.enable-admin on op-node)",
    "admin_stopSequencer": "op-node's admin API (enable it with --rpc.enable-admin on op-node)",
    "admin_overrideLeader": "op-node's admin_overrideLeader (optimism PR #10976)",
    "optimism_syncStatus": "op-node's optimism_syncStatus",
}

TRANSFER_MAYBE = ("leadership transfer timeout", "timed out", "i/o timeout", "context deadline exceeded")


class ConductorError(OpstackError):
    """Any failure talking to a node; ``url`` and ``method`` say where."""

    def __init__(self, message, url=None, method=None):
        super().__init__(message)
        self.message = message
        self.url = url
        self.method = method


class Unreachable(ConductorError):
    """No HTTP answer (refused, timeout, DNS, non-200 status)."""


class RPCError(ConductorError):
    """A JSON-RPC error object in an HTTP 200 reply."""

    def __init__(self, message, code=None, data=None, url=None, method=None):
        super().__init__(message, url=url, method=method)
        self.code = code
        self.data = data


class MethodMissing(RPCError):
    """-32601: the server does not have this method (older or newer op-conductor than expected)."""


class Unsupported(ConductorError):
    """The server answers, but with a shape or signature this collection cannot use safely."""


def _feature(method):
    return FEATURES.get(method, method)


class Endpoint:
    """A JSON-RPC 2.0 endpoint over HTTP(S) POST."""

    def __init__(self, url, timeout=10.0, validate_certs=True, headers=None, ca_path=None,
                 client_cert=None, client_key=None, transport=None):
        self.url = url
        self.timeout = timeout
        self.validate_certs = validate_certs
        self.headers = dict(headers or {})
        self.ca_path = ca_path
        self.client_cert = client_cert
        self.client_key = client_key
        self._transport = transport
        self._id = 0

    def _post(self, body):
        """Return the raw reply bytes; raise Unreachable."""
        if self._transport is not None:
            return self._transport(self.url, body, self.timeout)
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        headers.update(self.headers)
        try:
            if self.url.startswith("http://") or open_url is None:
                # Plain HTTP through the standard library: open_url builds a TLS context on every call, which
                # costs ~50 ms a request; polling loops make hundreds of requests.
                req = urllib_request.Request(self.url, data=body, headers=headers)
                resp = _plain_opener().open(req, timeout=self.timeout)
            else:
                resp = open_url(self.url, data=body, method="POST", headers=headers, timeout=self.timeout,
                                validate_certs=self.validate_certs, ca_path=self.ca_path,
                                client_cert=self.client_cert, client_key=self.client_key,
                                follow_redirects="none", use_proxy=True)
            try:
                return resp.read()
            finally:
                resp.close()
        except HTTPError as exc:
            try:
                detail = exc.read()[:300].decode("utf-8", "replace")
            except Exception:  # pylint: disable=broad-except
                detail = ""
            raise Unreachable("HTTP %s from %s%s" % (exc.code, self.url, (": " + detail) if detail else ""),
                              url=self.url)
        except (URLError, socket.timeout, socket.error, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise Unreachable("cannot reach %s: %s" % (self.url, reason), url=self.url)

    def call(self, method, params=None):
        self._id += 1
        body = json.dumps({"jsonrpc": "2.0", "id": self._id, "method": method,
                           "params": list(params or [])}).encode("utf-8")
        raw = self._post(body)
        try:
            reply = json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else raw)
        except ValueError:
            raise Unreachable("%s answered %s with something that is not JSON: %r" % (self.url, method, raw[:200]),
                              url=self.url, method=method)
        if not isinstance(reply, dict):
            raise Unsupported("%s answered %s with %r, not a JSON-RPC object" % (self.url, method, reply),
                              url=self.url, method=method)
        err = reply.get("error")
        if err is not None:
            code = err.get("code") if isinstance(err, dict) else None
            msg = err.get("message", "") if isinstance(err, dict) else str(err)
            data = err.get("data") if isinstance(err, dict) else None
            if code == -32601 or "does not exist/is not available" in msg or "method not found" in msg.lower():
                raise MethodMissing("%s does not have %s: it lacks %s (server said: %s)"
                                    % (self.url, method, _feature(method), msg),
                                    code=code, data=data, url=self.url, method=method)
            raise RPCError("%s failed on %s: %s" % (method, self.url, msg), code=code, data=data,
                           url=self.url, method=method)
        if "result" not in reply:
            raise Unsupported("%s answered %s without result or error" % (self.url, method),
                              url=self.url, method=method)
        return reply["result"]


def _bool(value, method, url):
    if not isinstance(value, bool):
        raise Unsupported("%s returned %r from %s, expected a boolean" % (method, value, url), url=url, method=method)
    return value


def suffrage_name(value):
    if isinstance(value, str):
        low = value.lower()
        if low in servers.SUFFRAGE_VALUES:
            return low
    return servers.SUFFRAGES.get(value, "unknown(%r)" % (value,))


def normalize_membership(result, url=None):
    """``{"servers": [...], "version": N}`` (or the pre-2024-06 bare list) as a plain dict."""
    if isinstance(result, list):
        servers, version = result, None
    elif isinstance(result, dict):
        servers, version = result.get("servers") or [], result.get("version")
    else:
        raise Unsupported("conductor_clusterMembership returned %r from %s" % (result, url), url=url,
                          method="conductor_clusterMembership")
    out = []
    for server in servers:
        out.append(dict(id=server.get("id", ""), address=server.get("addr", ""),
                        suffrage=suffrage_name(server.get("suffrage", 0))))
    return dict(servers=out, version=version)


class Conductor:
    """One op-conductor node's RPC."""

    def __init__(self, node_id, url, **endpoint_args):
        self.id = node_id
        self.url = url
        self.rpc = Endpoint(url, **endpoint_args)

    def call(self, method, *params):
        return self.rpc.call(method, list(params))

    def leader(self):
        return _bool(self.call("conductor_leader"), "conductor_leader", self.url)

    def leader_with_id(self):
        info = self.call("conductor_leaderWithID") or {}
        return dict(id=info.get("id", "") or "", address=info.get("addr", "") or "")

    def membership(self):
        return normalize_membership(self.call("conductor_clusterMembership"), self.url)

    def paused(self):
        return _bool(self.call("conductor_paused"), "conductor_paused", self.url)

    def stopped(self):
        return _bool(self.call("conductor_stopped"), "conductor_stopped", self.url)

    def active(self):
        return _bool(self.call("conductor_active"), "conductor_active", self.url)

    def sequencer_healthy(self):
        return _bool(self.call("conductor_sequencerHealthy"), "conductor_sequencerHealthy", self.url)

    def leader_overridden(self):
        return _bool(self.call("conductor_leaderOverridden"), "conductor_leaderOverridden", self.url)

    def pause(self):
        self.call("conductor_pause")

    def resume(self):
        self.call("conductor_resume")

    def override_leader(self, override):
        self.call("conductor_overrideLeader", bool(override))

    def transfer_leader_to(self, server_id, address):
        self.call("conductor_transferLeaderToServer", server_id, address)

    def _versioned(self, method, *params):
        try:
            return self.call(method, *params)
        except RPCError as exc:
            if exc.code == -32602 and "too many arguments" in exc.message:
                raise Unsupported(
                    "%s on %s takes no membership version: this op-conductor predates optimistic concurrency for "
                    "membership changes (optimism PR #10823, 2024-06); refusing to change membership without it "
                    "(server said: %s)" % (method, self.url, exc.message), url=self.url, method=method)
            raise

    def add_voter(self, server_id, address, version):
        self._versioned("conductor_addServerAsVoter", server_id, address, version)

    def add_nonvoter(self, server_id, address, version):
        self._versioned("conductor_addServerAsNonvoter", server_id, address, version)

    def remove_server(self, server_id, version):
        self._versioned("conductor_removeServer", server_id, version)

    def demote_voter(self, server_id, version):
        self._versioned("conductor_demoteVoter", server_id, version)

    def status(self, members=True):
        """Everything one node reports. A node that cannot be reached gets ``reachable: false`` and ``error``.

        Methods a version lacks come back as None, with the reason in ``missing``.
        """
        out = dict(id=self.id, url=self.url, reachable=True, error=None, missing=[])
        try:
            out["leader"] = self.leader()
        except ConductorError as exc:
            out.update(reachable=not isinstance(exc, Unreachable), error=exc.message)
            if isinstance(exc, Unreachable):
                return out
        probes = [("leader_with_id", self.leader_with_id), ("paused", self.paused), ("stopped", self.stopped),
                  ("active", self.active), ("sequencer_healthy", self.sequencer_healthy),
                  ("leader_overridden", self.leader_overridden)]
        if members:
            probes.insert(1, ("membership", self.membership))
        for key, probe in probes:
            try:
                out[key] = probe()
            except MethodMissing as exc:
                out[key] = None
                out["missing"].append(exc.message)
            except Unreachable as exc:
                out.update(reachable=False, error=exc.message)
                return out
            except ConductorError as exc:
                out[key] = None
                out["error"] = (out["error"] + "; " if out["error"] else "") + exc.message
        return out


class OpNode:
    """The admin and optimism namespaces of a sequencer's op-node."""

    def __init__(self, url, **endpoint_args):
        self.url = url
        self.rpc = Endpoint(url, **endpoint_args)

    def sequencer_active(self):
        return _bool(self.rpc.call("admin_sequencerActive"), "admin_sequencerActive", self.url)

    def start_sequencer(self, block_hash):
        self.rpc.call("admin_startSequencer", [block_hash])

    def stop_sequencer(self):
        return self.rpc.call("admin_stopSequencer")

    def override_leader(self):
        """op-node then counts itself the leader and commits nothing to its conductor, until it restarts: op-node
        v1.19.0 (op-node/node/conductor.go) only ever sets this flag; no RPC clears or reads it."""
        self.rpc.call("admin_overrideLeader")

    def unsafe_head(self):
        status = self.rpc.call("optimism_syncStatus") or {}
        head = status.get("unsafe_l2") or {}
        if not head.get("hash"):
            raise Unsupported("optimism_syncStatus on %s has no unsafe_l2.hash" % self.url, url=self.url,
                              method="optimism_syncStatus")
        return dict(hash=head["hash"], number=head.get("number"), timestamp=head.get("timestamp"))


class Clock:
    """The time every wait of the live modules reads and sleeps on; unit tests pass one that only counts."""

    @staticmethod
    def monotonic():
        return time.monotonic()

    @staticmethod
    def sleep(seconds):
        time.sleep(seconds)


CLOCK = Clock()


def poll(probe, timeout, interval=0.5, clock=time.monotonic, sleep=time.sleep, max_iterations=None):
    """Call ``probe()`` until it returns a truthy value; bounded by ``timeout`` seconds and an iteration cap.

    Returns ``(value, elapsed)``; the value is the last falsy one when the time is up.
    """
    start = clock()
    cap = max_iterations if max_iterations is not None else max(1, int(timeout / max(interval, 0.01)) + 2)
    value = None
    for _i in range(cap):
        value = probe()
        if value:
            return value, clock() - start
        if clock() - start >= timeout:
            break
        sleep(min(interval, max(0.0, timeout - (clock() - start))))
    return value, clock() - start


def is_transfer_maybe(exc):
    """A transfer error after which the transfer may still complete (optimism PR #22925): keep polling."""
    text = (getattr(exc, "message", None) or str(exc)).lower()
    return any(t in text for t in TRANSFER_MAYBE) or isinstance(exc, Unreachable)


def endpoint_args(params):
    """Endpoint keyword arguments from the shared module options."""
    return dict(timeout=params.get("request_timeout", 10), validate_certs=params.get("validate_certs", True),
                headers=params.get("headers") or None, ca_path=params.get("ca_path"),
                client_cert=params.get("client_cert"), client_key=params.get("client_key"))


def make_conductors(nodes, params):
    """``nodes``: [{id, url}] → {id: Conductor} (order kept)."""
    args = endpoint_args(params)
    out = {}
    for node in nodes:
        out[node["id"]] = Conductor(node["id"], node["url"], **args)
    return out


def gather(conductors, members=True):
    return [c.status(members=members) for c in conductors.values()]


def connection_argument_spec():
    """How to reach an RPC endpoint: the options of the ``opstack.conductor.conductor_rpc.CONNECTION`` doc fragment."""
    return dict(
        request_timeout=dict(type="float", default=10),
        validate_certs=dict(type="bool", default=True),
        ca_path=dict(type="path"),
        client_cert=dict(type="path"),
        client_key=dict(type="path", no_log=False),
        headers=dict(type="dict"),
    )


def rpc_argument_spec():
    """``nodes`` (the ``opstack.conductor.conductor_rpc`` doc fragment) and :func:`connection_argument_spec`.

    Modules add their own options with ``spec.update(...)``.
    """
    spec = dict(
        nodes=dict(type="list", elements="dict", required=True, options=dict(
            id=dict(type="str", required=True),
            url=dict(type="str", required=True),
            node_rpc_url=dict(type="str"),
        )),
    )
    spec.update(connection_argument_spec())
    return spec


def check_nodes(nodes):
    """A problem with the ``nodes`` option (a string), or None."""
    ids = [n["id"] for n in nodes]
    if not ids:
        return "nodes may not be empty"
    dup = sorted(set(i for i in ids if ids.count(i) > 1))
    if dup:
        return "nodes lists these ids more than once: %s" % ", ".join(dup)
    for n in nodes:
        if not n["url"].startswith(("http://", "https://")):
            return "nodes[%s].url must be an http:// or https:// URL, got %r" % (n["id"], n["url"])
    return None


def sequencer_states(nodes, params):
    """``{id: True/False/None}`` from each node's op-node (None: no node_rpc_url), plus errors."""
    args = endpoint_args(params)
    states, errors = {}, {}
    for n in nodes:
        if not n.get("node_rpc_url"):
            states[n["id"]] = None
            continue
        try:
            states[n["id"]] = OpNode(n["node_rpc_url"], **args).sequencer_active()
        except ConductorError as exc:
            states[n["id"]] = None
            errors[n["id"]] = exc.message
    return states, errors


# --- running a module -------------------------------------------------------------------------------------

#: Raised by a module's work function: fail with ``msg`` and these result keys (the runner's, so the failure
#: shape is defined once, in ``_runner``). Not a :class:`ConductorError`, so an ``except ConductorError`` around
#: the call that led to the failure does not catch it.
Failure = runner.Failure


def _and(names):
    return names[0] if len(names) == 1 else "%s and %s" % (", ".join(names[:-1]), names[-1])


def _option_problem(params, positive, cluster):
    problem = check_nodes(params["nodes"]) if cluster else None
    if problem is None and any(params[name] <= 0 for name in positive):
        problem = "%s must be positive" % _and(list(positive))
    return problem


def live_work(work, positive=(), cluster=True):
    """``work(module, conductors, partial)`` as a work function for ``_runner.run``, the one runner every module's
    main() calls (it also gives failed results their one shape).

    Before any work the options are checked: with ``cluster`` (the module takes the ``nodes`` of
    :func:`rpc_argument_spec`) ``nodes`` by :func:`check_nodes`, and each node gets a :class:`Conductor`; every option
    named in ``positive`` must be greater than 0. ``work`` returns the module's result (``changed``, ``diff`` and its
    return values); it may raise :class:`Failure` (a message and result keys) or any other ``OpstackError`` (a
    :class:`ConductorError`, a bad server list), which fails with the error's message on top of what ``work`` put into
    ``partial`` by then.
    """
    def checked_work(module, partial):
        problem = _option_problem(module.params, positive, cluster)
        if problem:
            raise Failure(problem)
        conductors = make_conductors(module.params["nodes"], module.params) if cluster else {}
        return work(module, conductors, partial)
    return checked_work
