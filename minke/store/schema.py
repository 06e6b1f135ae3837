"""The metadata schema, as an ordered list of migrations.

Each entry is applied once, in order, inside one transaction, and recorded in
``PRAGMA user_version``.  Never edit a migration that has shipped: append a new one.
Packages own their tables (named in the comments) but the list lives here so the order
is one fact.
"""

from __future__ import annotations

MIGRATIONS: list[str] = [
    # 1: images (images/), layers (images/ + registry/), snapshots (snapshots/),
    #    leases (store/gc: protect blobs and snapshots an operation is still writing).
    """
    CREATE TABLE images (
        id              TEXT PRIMARY KEY,          -- config digest, "sha256:..."
        manifest_digest TEXT NOT NULL,             -- manifest the image came from / was saved as
        manifest_media_type TEXT NOT NULL,
        created         TEXT,                      -- from the config, RFC 3339
        added_at        REAL NOT NULL,             -- unix time the store got it (before= / since= order)
        size            INTEGER NOT NULL DEFAULT 0,-- unpacked size in bytes
        chain_id        TEXT                       -- chain ID of the top layer (snapshot key), NULL for no layers
    );
    CREATE TABLE tags (
        name     TEXT PRIMARY KEY,                 -- normalised "docker.io/library/busybox:latest"
        image_id TEXT NOT NULL REFERENCES images(id)
    );
    CREATE INDEX tags_image ON tags(image_id);
    CREATE TABLE repo_digests (
        name     TEXT PRIMARY KEY,                 -- "docker.io/library/busybox@sha256:..."
        image_id TEXT NOT NULL REFERENCES images(id)
    );
    CREATE INDEX repo_digests_image ON repo_digests(image_id);
    CREATE TABLE layers (
        diff_id     TEXT NOT NULL,                 -- digest of the uncompressed tar
        blob_digest TEXT NOT NULL,                 -- digest of the blob as stored/pushed
        media_type  TEXT NOT NULL,
        size        INTEGER NOT NULL,              -- blob size
        PRIMARY KEY (diff_id, blob_digest)
    );
    CREATE TABLE snapshots (
        key      TEXT PRIMARY KEY,                 -- chain ID for committed layers, any name for active
        id       INTEGER NOT NULL UNIQUE,          -- directory name under the snapshotter root
        parent   TEXT REFERENCES snapshots(key),
        kind     TEXT NOT NULL CHECK (kind IN ('committed', 'active', 'view')),
        created  REAL NOT NULL,
        labels   TEXT NOT NULL DEFAULT '{}'        -- JSON object
    );
    CREATE INDEX snapshots_parent ON snapshots(parent);
    CREATE TABLE leases (
        id         TEXT PRIMARY KEY,
        created    REAL NOT NULL,
        expires    REAL                            -- unix time; NULL = until deleted
    );
    CREATE TABLE lease_resources (
        lease_id TEXT NOT NULL REFERENCES leases(id) ON DELETE CASCADE,
        kind     TEXT NOT NULL CHECK (kind IN ('blob', 'snapshot')),
        ref      TEXT NOT NULL,
        PRIMARY KEY (lease_id, kind, ref)
    );
    """,
    # 2: containers (containers/): one row per container; Config and HostConfig are
    #    Docker's JSON; the state columns are written by the CLI and by the monitor.
    """
    CREATE TABLE containers (
        id            TEXT PRIMARY KEY,            -- 64 hex
        name          TEXT NOT NULL UNIQUE,        -- without the leading "/"
        image_id      TEXT NOT NULL,               -- "sha256:..." (not a foreign key: rmi -f may leave it dangling, as Docker)
        image_ref     TEXT NOT NULL,               -- what the user typed, shown by ps
        created       REAL NOT NULL,               -- unix time
        config        TEXT NOT NULL,               -- Docker Config JSON
        host_config   TEXT NOT NULL,               -- Docker HostConfig JSON
        snapshot_key  TEXT NOT NULL,               -- the container's writable snapshot
        status        TEXT NOT NULL DEFAULT 'created',
        pid           INTEGER NOT NULL DEFAULT 0,
        exit_code     INTEGER NOT NULL DEFAULT 0,
        error         TEXT NOT NULL DEFAULT '',
        oom_killed    INTEGER NOT NULL DEFAULT 0,
        started_at    REAL,
        finished_at   REAL,
        restart_count INTEGER NOT NULL DEFAULT 0,
        monitor_pid   INTEGER NOT NULL DEFAULT 0,
        monitor_start INTEGER NOT NULL DEFAULT 0,  -- /proc/PID/stat starttime: a reused pid is not ours
        stopped_by_user INTEGER NOT NULL DEFAULT 0,-- unless-stopped / restart policies
        runtime       TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX containers_image ON containers(image_id);
    """,
    # 3: images/: when a tag was last set (Docker's Metadata.LastTagTime; NULL = never
    #    tagged by the user, shown as Go's zero time like a pulled or loaded image).
    """
    ALTER TABLE tags ADD COLUMN tagged_at REAL;
    """,
    # 4: networks, endpoints (network/: one row per container per network, holding its
    #    IPAM allocation, names for the resolver and published ports), volumes (volumes/).
    """
    CREATE TABLE networks (
        id         TEXT PRIMARY KEY,               -- 64 hex
        name       TEXT NOT NULL UNIQUE,
        driver     TEXT NOT NULL,                  -- bridge, host, null
        bridge     TEXT UNIQUE,                    -- link name; NULL for host/null
        subnet     TEXT NOT NULL DEFAULT '',
        gateway    TEXT NOT NULL DEFAULT '',
        ip_range   TEXT NOT NULL DEFAULT '',
        internal   INTEGER NOT NULL DEFAULT 0,
        dns        INTEGER NOT NULL DEFAULT 0,     -- names resolve (user networks)
        labels     TEXT NOT NULL DEFAULT '{}',
        options    TEXT NOT NULL DEFAULT '{}',
        created    REAL NOT NULL,
        dns_pid    INTEGER NOT NULL DEFAULT 0,     -- the network's resolver process
        dns_start  INTEGER NOT NULL DEFAULT 0      -- its /proc start time
    );
    CREATE TABLE endpoints (
        network_id   TEXT NOT NULL REFERENCES networks(id),
        container_id TEXT NOT NULL,
        id           TEXT NOT NULL UNIQUE,         -- Docker's EndpointID
        name         TEXT NOT NULL DEFAULT '',     -- container name, resolvable on user networks
        aliases      TEXT NOT NULL DEFAULT '[]',   -- JSON list
        ip           TEXT NOT NULL,
        mac          TEXT NOT NULL DEFAULT '',
        host_veth    TEXT NOT NULL DEFAULT '',
        ports        TEXT NOT NULL DEFAULT '[]',   -- JSON: published ports with the host port chosen
        created      REAL NOT NULL,
        PRIMARY KEY (network_id, container_id),
        UNIQUE (network_id, ip)
    );
    CREATE INDEX endpoints_container ON endpoints(container_id);
    CREATE TABLE volumes (
        name       TEXT PRIMARY KEY,
        driver     TEXT NOT NULL DEFAULT 'local',
        labels     TEXT NOT NULL DEFAULT '{}',
        options    TEXT NOT NULL DEFAULT '{}',
        anonymous  INTEGER NOT NULL DEFAULT 0,
        created    REAL NOT NULL
    );
    """,
    # 5: the build cache (minke.build): one row per step result, keyed by its cache key.
    """
    CREATE TABLE build_cache (
        key      TEXT PRIMARY KEY,
        slot     TEXT NOT NULL,          -- dockerfile#stage#step: the same step across builds
        inputs   TEXT NOT NULL,          -- JSON StepInputs, to explain the next miss
        result   TEXT NOT NULL,          -- JSON layers, config, history after the step
        created  REAL NOT NULL
    );
    CREATE INDEX build_cache_slot ON build_cache(slot, created);
    """,
]
