# Backup and restore roles and playbooks (roles/raft_backup, roles/raft_restore, playbooks/backup.yml, restore.yml);
# included from the Makefile, which defines VPY and STAMP; ANSIBLE_STAMP, ANSIBLE_ENV and collection-link come from
# mk/ansible.mk.
#   make test-backup-playbooks   pytest: back up every host and fetch to the controller, wipe and restore a node,
#                                check mode, a damaged controller copy refused, op-conductor stopped and started one
#                                node at a time through command hooks, and the op-conductor-init local mode round trip

.PHONY: test-backup-playbooks

test-backup-playbooks: $(ANSIBLE_STAMP) collection-link
	$(ANSIBLE_ENV) $(VPY) -m pytest -p no:cacheprovider tests/playbooks/test_backup_restore.py

TEST_SUITES += test-backup-playbooks
