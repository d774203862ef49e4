# Multi-host test bed over SSH (issue 18; tests/ssh/testbed.py). Included from the Makefile (VPY, STAMP there;
# ANSIBLE_STAMP, ANSIBLE_ENV and collection-link from mk/ansible.mk; op-conductor from mk/e2e.mk).
#   make test-ssh   three sshd from Debian's openssh-server on 127.0.0.21-23 (own ports, host keys, configs; a
#                   fourth on 127.0.0.24 for the membership test), a deploy user with a key made for the run and sudo
#                   (a sudoers.d drop-in), storage owned by an op-conductor-like user, one host whose Python lacks
#                   msgpack; the quick start of docs/quickstart.md over SSH with pipelining on and off; then the REAL
#                   op-conductor (the build of make op-conductor, copied into the run directory) started by the
#                   role's command hooks as that user: bring_up, status, membership add/retire, and a network
#                   partition made with iptables (tests/ssh/partition.py). Needs root. openssh-server, sudo, iptables
#                   and python3-msgpack (for /usr/bin/python3) are installed with apt-get when missing; every user,
#                   group, sudoers file, key, process and iptables rule the run makes is removed at the end, also
#                   when it fails.

.PHONY: test-ssh

test-ssh: $(ANSIBLE_STAMP) collection-link op-conductor
	$(ANSIBLE_ENV) $(VPY) -m pytest -p no:cacheprovider tests/ssh

TEST_SUITES += test-ssh
