"""Networks: bridges, veths, network namespaces, IPAM, port publishing, name resolution.

Modules, each usable alone:

- ``ports``    ``-p`` / ``--publish`` strings to ``PortMapping`` (pure)
- ``subnets``  the host's routed subnets and the choice of a free one (pure + /proc read)
- ``ipam``     address allocation per network in SQLite (``BEGIN IMMEDIATE`` serialises
               concurrent ``minke run``; ``UNIQUE(network_id, ip)`` is the backstop)
- ``netns``    persistent network namespaces bound to a file under the run dir
- ``netlink``  bridge / veth / address / route / MTU / MAC, through ``rtnl`` (a minimal
               rtnetlink client on a raw socket; pyroute2 only for conntrack flushes)
- ``iptables`` NAT, publishing and forwarding rules in minke's own chains
- ``dns``      the per-network resolver (packet codec + server process)
- ``service``  NetworkService: ``network create/ls/inspect/rm/prune/connect/disconnect``
               and ``setup``/``teardown`` of a container's networking
"""
