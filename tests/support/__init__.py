"""Helpers shared by the test suites (importable as ansible_collections.opstack.conductor.tests.support)."""
