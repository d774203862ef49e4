"""Property tests (hypothesis; `make test-reliability`): arbitrary text through the validators and arbitrary bytes
through the decoders. Either a clean refusal naming the field and the value, or something that is safe and
round-trips; never another exception."""

import os
import tempfile
import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from ansible_collections.opstack.conductor.plugins.module_utils import _bbolt as bolt
from ansible_collections.opstack.conductor.plugins.module_utils import _cluster as cluster
from ansible_collections.opstack.conductor.plugins.module_utils import _node_state as node_state
from ansible_collections.opstack.conductor.plugins.module_utils import _raft as raft

pytestmark = pytest.mark.reliability  # `make test-reliability` selects these by marker

SETTINGS = settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TEXT = st.text(st.characters(codec=None), max_size=260) | st.text(st.characters(max_codepoint=0x7F), max_size=40)


@SETTINGS
@given(TEXT)
def test_a_server_id_is_refused_by_name_or_is_a_safe_directory_name_that_round_trips(value):
    try:
        cluster.validate_server_id(value)
    except cluster.SpecError as exc:
        assert str(exc).startswith("server_id=%r: " % (value,))
        return
    encoded = value.encode("utf-8")
    assert 0 < len(encoded) <= cluster.MAX_SERVER_ID_BYTES
    assert "/" not in value and "\\" not in value and "\x00" not in value and not value.startswith(".")
    assert value == value.strip()
    assert not any(unicodedata.category(c)[0] in "CZ" and c != " " for c in value)
    spec = cluster.validate_cluster([{"id": value, "address": "h:1"}], value)[0]
    files = cluster.node_databases(spec, value)
    with tempfile.TemporaryDirectory() as scratch:
        node = os.path.join(scratch, value)
        os.mkdir(node)  # a valid directory name on Linux
        for name, data in files.items():
            with open(os.path.join(node, name), "wb") as handle:
                handle.write(data)
        state = node_state.read_node_state(node, verify=True)
        assert state.integrity.ok, state.integrity.problems
        assert state.latest_configuration.configuration.servers[0].id == value
        assert state.last_vote_candidate == value


@SETTINGS
@given(TEXT)
def test_an_address_is_refused_by_name_or_has_a_port(value):
    try:
        cluster.validate_address(value)
    except cluster.SpecError as exc:
        assert str(exc).startswith("address=%r: " % (value,))
        return
    port = value.rpartition(":")[2]
    assert port.isdigit() and 1 <= int(port) <= 65535
    assert not any(unicodedata.category(c)[0] in "CZ" for c in value)


@SETTINGS
@given(st.binary(max_size=400))
def test_arbitrary_entry_bytes_decode_or_raise_decode_error(raw):
    try:
        log = raft.decode_log(raw)
    except raft.DecodeError:
        return
    assert raft.decode_log(raft.encode_log(log)) == log


@SETTINGS
@given(st.binary(max_size=300))
def test_arbitrary_configuration_bytes_decode_or_raise_decode_error(raw):
    try:
        raft.decode_configuration(raw)
    except raft.DecodeError:
        pass


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=3 * 4096), st.sampled_from([raft.LOG_FILE, raft.STABLE_FILE]),
       st.integers(min_value=0, max_value=3))
def test_arbitrary_database_bytes_never_escape_the_reader(data, name, seed_pages):
    """Random bytes, optionally after a valid prefix of real pages (so the walk gets past the meta pages)."""
    spec = cluster.validate_cluster([{"id": "n1", "address": "h:1"}], "n1")[0]
    files = cluster.node_databases(spec, "n1")
    with tempfile.TemporaryDirectory() as node:
        for file_name, content in files.items():
            if file_name == name:
                content = content[:seed_pages * 4096] + data
            with open(os.path.join(node, file_name), "wb") as handle:
                handle.write(content)
        state = node_state.read_node_state(node, verify=True)
        node_state.read_node_state(node).summary()
        report = bolt.check_file(os.path.join(node, name))
        assert state.integrity.ok or state.integrity.problems
        assert report.ok or report.problems
