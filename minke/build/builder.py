"""The builder: a parsed Dockerfile and a context into an image in the store.

Each needed stage starts from its base (``scratch``, an earlier stage or a stored image)
and applies its instructions: metadata steps change the config (history ``empty_layer``),
COPY/ADD stage files into a directory that becomes a layer tar, RUN runs in a container
on an overlay snapshot of the current layers and its upperdir becomes the layer
(``minke.build.run``).  Every step has a cache key (``minke.build.cache``); a hit
restores the step's layers and config without doing the work.  Everything a build
creates goes through the image service's staging lease, so a failed build leaves only
blobs the cache points at and snapshots the image chains own.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import time
from collections.abc import Callable, Iterator, Mapping

from minke.build import stages as st_mod
from minke.build.cache import CacheEntry, CacheStore, MemoryCacheStore, StepInputs, explain, slot
from minke.build.context import BuildContext
from minke.build.parser import Dockerfile, Instruction, parse, parse_mount
from minke.build.record import factory, record
from minke.build.shell_words import process_word
from minke.errors import InvalidArgument, MinkeError, NotFound, Unsupported
from minke.sha256 import hexdigest

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing: for mypy only (its import costs a short command ~5 ms)
    from typing import Any


def _rand() -> str:
    """A short random name for a file of the step (uuid's import costs a rebuild ~10 ms)."""
    return os.urandom(4).hex()


def _clone(doc: Any) -> Any:
    """A deep copy of JSON data (copy.deepcopy's import and walk cost more)."""
    return json.loads(json.dumps(doc))


def _mkdtemp(parent: str, prefix: str) -> str:
    """tempfile.mkdtemp without tempfile (its import, with random's, costs a rebuild ~3 ms)."""
    while True:
        path = os.path.join(parent, prefix + os.urandom(6).hex())
        try:
            os.mkdir(path, 0o700)
            return path
        except FileExistsError:
            continue


@record
class BuildOptions:
    dockerfile: str = "Dockerfile"
    tags: tuple[str, ...] = ()
    build_args: Mapping[str, str] = factory(dict)
    target: str | None = None
    no_cache: bool = False
    labels: Mapping[str, str] = factory(dict)
    network: str = "default"
    runtime: str = "runc"
    # The Dockerfile's text when it is read from outside the context (`-f ../x`), as
    # Docker's CLI allows; None reads ``dockerfile`` from the context.
    dockerfile_text: bytes | None = None
    # --secret: id -> its value (read by the CLI from a file or an environment variable).
    # Only RUN --mount=type=secret sees it; it is in no layer, no history and no cache key
    # (the key has the mount's text, with the id, as BuildKit's).
    secrets: Mapping[str, bytes] = factory(dict)
    # --ssh: id -> an agent's socket on the host, bound into RUN --mount=type=ssh.
    ssh: Mapping[str, str] = factory(dict)
    # --pull: resolve every FROM image against its registry, even one the store has.
    pull: bool = False


@record(frozen=False)
class _State:
    """A stage's image so far."""

    layers: list[list[Any]]  # [diff_id, blob_digest, media_type, size]
    config: dict[str, Any]
    history: list[dict[str, Any]]
    key: str
    meta: st_mod.StageState

    def to_json(self) -> str:
        return json.dumps({"layers": self.layers, "config": self.config,
                           "history": self.history, "args": self.meta.args,
                           "cmd_set": self.meta.cmd_set})


class SqliteCacheStore:
    """CacheStore in the metadata DB (table build_cache)."""

    def __init__(self, db: Any) -> None:
        self.db = db

    def get(self, key: str) -> CacheEntry | None:
        row = self.db.query_one("SELECT key, result, inputs FROM build_cache WHERE key = ?",
                                (key,))
        if row is None:
            return None
        return CacheEntry(row["key"], "", "", row["result"], StepInputs.from_json(row["inputs"]))

    def put(self, slot: str, entry: CacheEntry) -> None:
        with self.db.transaction():
            self.db.execute("INSERT OR REPLACE INTO build_cache (key, slot, inputs, result, "
                            "created) VALUES (?, ?, ?, ?, ?)",
                            (entry.key, slot, entry.inputs.to_json(), entry.config, time.time()))

    def last(self, slot: str) -> StepInputs | None:
        row = self.db.query_one("SELECT inputs FROM build_cache WHERE slot = ? "
                                "ORDER BY created DESC LIMIT 1", (slot,))
        return StepInputs.from_json(row["inputs"]) if row else None

    def remove(self, key: str) -> None:
        self.db.execute("DELETE FROM build_cache WHERE key = ?", (key,))


class _LazyStaging:
    """The build's staging (``minke.images.staging``), entered on its first use.  A fully
    cached build writes no blob and no snapshot, so it takes no lease: two transactions,
    their fdatasyncs, and the staging and unpack imports fewer.  Entered in ``stack``,
    which the build's block exits: an exception there rolls the staging back as before."""

    def __init__(self, images: Any, stack: contextlib.ExitStack) -> None:
        self._images = images
        self._stack = stack
        self._staging: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._staging is None:
            from minke.images.staging import staging

            self._staging = self._stack.enter_context(staging(self._images))
        return getattr(self._staging, name)


def _sha(text: str) -> str:
    return "sha256:" + hexdigest(text.encode())


class Builder:
    """Builds images; ``progress`` receives one line per event (the plain format)."""

    _pull = False

    def __init__(self, engine: Any, *, cache: CacheStore | None = None,
                 progress: Callable[[str], None] | None = None) -> None:
        self.engine = engine
        self.images = engine.images
        self.blobs = engine.blobs
        self.cache = cache if cache is not None else SqliteCacheStore(engine.db)
        self.progress = progress or (lambda line: None)
        self._n = 0
        self._fetched: dict[tuple[str, str], str] = {}  # (work dir, url) -> downloaded file

    @property
    def snapshots(self) -> Any:
        # Only a step that runs needs the snapshotter (its import and set-up): not a hit.
        return self.engine.snapshots

    # --- public ------------------------------------------------------------------------
    def build(self, ctx: BuildContext, opts: BuildOptions) -> str:
        """Build; return the image ID.  Raises InvalidArgument/NotFound naming the line."""
        self._pull = opts.pull
        df = parse(opts.dockerfile_text if opts.dockerfile_text is not None
                   else ctx.read_dockerfile(opts.dockerfile))
        all_stages = st_mod.stages(df, opts.build_args)
        plan = st_mod.needed(all_stages, opts.target)
        gargs = st_mod.global_args(df, opts.build_args)
        tmp_root = self.engine.config.tmp_dir
        os.makedirs(tmp_root, exist_ok=True)
        work = _mkdtemp(tmp_root, "minke-build-")
        cache = MemoryCacheStore() if opts.no_cache else self.cache
        try:
            with contextlib.ExitStack() as stack:
                stg = _LazyStaging(self.images, stack)
                results: dict[int, _State] = {}
                for stage in plan:
                    results[stage.index] = self._stage(df, stage, len(all_stages), all_stages,
                                                       results, ctx, opts, gargs, stg, work,
                                                       cache)
                final = results[plan[-1].index]
                # A fully cached build gives the same image (same ID), as Docker's does.
                final_key = _sha(final.key + "\0image\0" + json.dumps(
                    [final.config, dict(opts.labels)], sort_keys=True))
                hit = cache.get(final_key)
                if hit is not None:
                    image_id = json.loads(hit.config).get("image", "")
                    if image_id and self.images.exists(image_id):
                        for t in opts.tags:
                            # the same image under the same name again: no write, as
                            # Docker's reference store (the "tag" event is still recorded)
                            self.images.tag(image_id, t, touch=False)
                        return str(image_id)
                self._ensure_workdir(final, stg, work)
                image_id = self._store(final, opts, stg)
                cache.put(f"{opts.dockerfile}#image", CacheEntry(
                    final_key, "", "", json.dumps({"image": image_id}),
                    StepInputs("image", final.key)))
                return image_id
        finally:
            try:
                os.rmdir(work)  # empty after a cached build: no shutil import
            except OSError:
                import shutil

                shutil.rmtree(work, ignore_errors=True)

    # --- stages ------------------------------------------------------------------------
    def _emit(self, text: str) -> None:
        self.progress(text)

    def _base(self, stage: st_mod.Stage, results: dict[int, _State],
              all_stages: list[st_mod.Stage], escape: str) -> _State:
        base = stage.base
        by_name = {s.name: s.index for s in all_stages if s.name and s.index < stage.index}
        if base.lower() in by_name:
            prev = results[by_name[base.lower()]]
            return _State(_clone(prev.layers), _clone(prev.config),
                          _clone(prev.history), prev.key,
                          st_mod.StageState(_clone(prev.config), escape))
        if base == "scratch":
            cfg: dict[str, Any] = {"Env": [f"PATH={st_mod.DEFAULT_PATH}"]}
            return _State([], cfg, [], _sha("from:scratch"), st_mod.StageState(cfg, escape))
        image = self._base_image(base, stage.from_line.line)
        doc = self.images.image_config(image.id)
        manifest = self.images.manifest(image)
        diff_ids = doc.get("rootfs", {}).get("diff_ids", [])
        layers = [[d, m["digest"], m["mediaType"], m["size"]]
                  for d, m in zip(diff_ids, manifest.get("layers", []), strict=True)]
        cfg = _clone(doc.get("config") or {})
        cfg.setdefault("Env", [f"PATH={st_mod.DEFAULT_PATH}"])
        return _State(layers, cfg, _clone(doc.get("history") or []),
                      _sha("from:" + image.id), st_mod.StageState(cfg, escape))

    def _base_image(self, ref: str, line: int) -> Any:
        """A FROM image: pulled when the store lacks it (Docker's default) or always with
        --pull; the pull's progress goes to the build's output."""
        if not self._pull:
            try:
                return self.images.get(ref)
            except NotFound:
                pass
        import io

        out = io.StringIO()
        try:
            self.engine.registry.pull(ref, out=out, quiet=True)
        except NotFound:
            raise NotFound(f"dockerfile:{line}: {ref}: image not found") from None
        except MinkeError as e:
            raise type(e)(f"dockerfile:{line}: pulling {ref}: {e}") from None
        self._emit(f"pulled {ref}")
        return self.images.get(ref)

    def _stage(self, df: Dockerfile, stage: st_mod.Stage, total: int,
               all_stages: list[st_mod.Stage], results: dict[int, _State], ctx: BuildContext,
               opts: BuildOptions, gargs: Mapping[str, str], stg: Any, work: str,
               cache: CacheStore) -> _State:
        label = stage.name or f"stage-{stage.index}"
        n_steps = len(stage.instructions) + 1
        self._n += 1
        self._emit(f"#{self._n} [{label} 1/{n_steps}] FROM {stage.base}")
        state = self._base(stage, results, all_stages, df.escape)
        state.meta.config = state.config
        instructions = list(stage.instructions)
        triggers = state.config.get("OnBuild") or []
        if triggers:
            # The base image's ONBUILD triggers run first, as Docker runs them after FROM.
            parsed = parse("\n".join(str(t) for t in triggers)).instructions
            instructions = [*parsed, *instructions]
            n_steps += len(parsed)
            state.config["OnBuild"] = None
        for k, inst in enumerate(instructions, start=2):
            self._n += 1
            self._emit(f"#{self._n} [{label} {k}/{n_steps}] {inst.original.splitlines()[0]}")
            t0 = time.monotonic()
            self._step(df, stage, k, inst, state, results, all_stages, ctx, opts, gargs,
                       stg, work, cache)
            self._emit(f"#{self._n} DONE {time.monotonic() - t0:.1f}s")
        return state

    def _step(self, df: Dockerfile, stage: st_mod.Stage, k: int, inst: Instruction,
              state: _State, results: dict[int, _State], all_stages: list[st_mod.Stage],
              ctx: BuildContext, opts: BuildOptions, gargs: Mapping[str, str], stg: Any,
              work: str, cache: CacheStore) -> None:
        meta = state.meta
        if inst.cmd == "ARG":
            names = st_mod.declare_args(meta, inst, opts.build_args, gargs)
            shown = " ".join(f"{n}={meta.args[n]}" if n in meta.args else n for n in names)
            state.history.append(self._hist(f"ARG {shown}", empty=True))
            # The key does not change here: the steps that see an ARG key on its value.
            return
        if inst.cmd == "WORKDIR":
            wd = process_word(inst.args[0], meta.expansion_env(), df.escape)
            wd = os.path.normpath(os.path.join(state.config.get("WorkingDir") or "/", wd))
            state.config["WorkingDir"] = wd
            # The directory itself is made by the next RUN (or COPY into it).
            created: str | None = f"WORKDIR {wd}"
        else:
            created = st_mod.apply_metadata(meta, inst)
        if created is not None:
            state.config = meta.config
            state.history.append(self._hist(created, empty=True))
            state.key = _sha(state.key + "\0" + created + json.dumps(state.config,
                                                                     sort_keys=True))
            return
        # A layer step: key it, look it up, explain a miss.
        env = meta.expansion_env()
        files: dict[str, str] = {}
        extra: dict[str, str] = {}
        step_slot = slot(opts.dockerfile, stage.index, k)
        if inst.cmd in ("COPY", "ADD"):
            if not inst.flag("from"):
                for src in self._sources(inst)[0]:
                    if "://" in src:
                        # keyed by what the URL serves now, as Docker does (it fetches too)
                        import hashlib

                        with open(self._fetch(src, work, inst.line), "rb") as f:
                            extra[f"url {src}"] = hashlib.file_digest(f, "sha256").hexdigest()
                        continue
                    expanded = process_word(src, env, df.escape)
                    try:
                        rels = ctx.resolve(expanded) if not src.startswith("<<") else []
                    except NotFound as exc:
                        raise NotFound(f"dockerfile:{inst.line}: {exc}") from None
                    for rel in rels:
                        files.update(ctx.file_hashes([rel]))
            else:
                ref = process_word(inst.flag("from") or "", env, df.escape).lower()
                extra["from"] = self._from_key(ref, results, all_stages, stage)
            for hd in inst.heredocs:
                files[f"<<{hd.name}"] = _sha(hd.content)
        else:  # RUN
            extra["network"] = inst.flag("network") or opts.network
            extra["mounts"] = json.dumps(inst.flag_all("mount"))
            for m in inst.flag_all("mount"):
                spec = parse_mount(m, inst.line)
                if spec.type == "bind" and not spec.from_:
                    src = spec.source or "."
                    files.update(ctx.file_hashes(ctx.resolve(src)))
        if inst.cmd in ("COPY", "ADD"):
            used: set[str] = set()
            for word in (*inst.args, *(v or "" for _, v in inst.flags)):
                process_word(word, env, df.escape, used)
            used_args = {a: meta.args[a] for a in sorted(used) if a in meta.args
                         and a not in meta.env()}
        else:  # RUN sees every declared ARG in its environment
            used_args = {a: v for a, v in meta.args.items() if a not in meta.env()}
        inputs = StepInputs(inst.original + "".join(h.content for h in inst.heredocs),
                            state.key, used_args, meta.env(), files, extra)
        key = inputs.key()
        hit = cache.get(key)
        if hit is not None and self._restore(state, hit):
            state.key = key
            self._emit(f"#{self._n} CACHED")
            return
        self._emit(f"#{self._n} {explain(cache.last(step_slot), inputs)}")
        if inst.cmd in ("COPY", "ADD"):
            self._copy(df, inst, state, results, all_stages, stage, ctx, stg, work, env)
        else:
            self._run(df, inst, state, ctx, opts, stg, work)
        state.key = key
        cache.put(step_slot, CacheEntry(key, "", "", state.to_json(), inputs))

    def _from_key(self, ref: str, results: dict[int, _State],
                  all_stages: list[st_mod.Stage], stage: st_mod.Stage) -> str:
        idx = self._stage_index(ref, all_stages, stage)
        if idx is not None:
            return results[idx].key
        return self.images.get(ref).id

    @staticmethod
    def _stage_index(ref: str, all_stages: list[st_mod.Stage], stage: st_mod.Stage) -> int | None:
        for s in all_stages:
            if s.index < stage.index and (s.name == ref or str(s.index) == ref):
                return s.index
        return None

    def _restore(self, state: _State, hit: CacheEntry) -> bool:
        doc = json.loads(hit.config)
        for layer in doc["layers"]:
            if not self.blobs.exists(layer[1]):
                return False  # the layer was collected: rebuild the step
        state.layers = doc["layers"]
        state.config = doc["config"]
        state.history = doc["history"]
        state.meta.config = state.config
        state.meta.cmd_set = doc["cmd_set"]
        return True

    @staticmethod
    def _hist(created_by: str, *, empty: bool) -> dict[str, Any]:
        from minke.images.model import format_time

        h: dict[str, Any] = {"created": format_time(), "created_by": created_by,
                             "comment": "buildkit.dockerfile.v0"}
        if empty:
            h["empty_layer"] = True
        return h

    # --- rootfs access -------------------------------------------------------------------
    @contextlib.contextmanager
    def _rootfs(self, state: _State, stg: Any, work: str, *, writable: bool
                ) -> Iterator[tuple[str, Any]]:
        """Mount the state's layers (a fresh snapshot on top); yield (path, mounts)."""
        from minke.images.unpack import LayerRef
        from minke.snapshots.mount import mount_all, unmount

        chain = None
        if state.layers:
            chain, _ = stg.unpack([LayerRef(lay[0], lay[1]) for lay in state.layers])
        key = "build-" + os.urandom(16).hex()
        target = os.path.join(work, key)
        os.makedirs(target)
        mounts = (self.snapshots.prepare(key, parent=chain) if writable
                  else self.snapshots.view(key, parent=chain))
        try:
            mount_all(mounts, target)
            try:
                yield target, mounts
            finally:
                unmount(target)
        finally:
            self.snapshots.remove(key)
            with contextlib.suppress(OSError):
                os.rmdir(target)

    def _add_dir_layer(self, state: _State, stg: Any, layer_dir: str) -> None:
        """A directory (COPY/ADD's or WORKDIR's new files) as the stage's next layer;
        the directory and its tar are gone afterwards."""
        import shutil

        from minke.archive.create import write_tar

        tar_path = layer_dir + ".tar"
        with open(tar_path, "wb") as f:
            write_tar(layer_dir, f)
        self._add_layer(state, stg, tar_path)
        os.unlink(tar_path)
        shutil.rmtree(layer_dir, ignore_errors=True)

    def _add_layer(self, state: _State, stg: Any, tar_path: str) -> None:
        from minke.images.model import OCI_LAYER

        with open(tar_path, "rb") as f:
            diff_id, size = stg.ingest(f)
        state.layers.append([diff_id, diff_id, OCI_LAYER, size])

    # --- COPY / ADD ----------------------------------------------------------------------
    @staticmethod
    def _sources(inst: Instruction) -> tuple[list[str], str]:
        return list(inst.args[:-1]), inst.args[-1]

    def _copy(self, df: Dockerfile, inst: Instruction, state: _State,
              results: dict[int, _State], all_stages: list[st_mod.Stage],
              stage: st_mod.Stage, ctx: BuildContext, stg: Any, work: str,
              env: Mapping[str, str]) -> None:

        srcs, dest = self._sources(inst)
        dest = process_word(dest, env, df.escape)
        workdir = state.config.get("WorkingDir") or "/"
        if not dest.startswith("/"):
            dest = os.path.join(workdir, dest) + ("/" if dest.endswith("/") or dest in (
                ".", "") else "")
        wild = any(c in s for s in srcs for c in "*?[")
        if (len(srcs) > 1 or wild) and not dest.endswith("/"):
            raise InvalidArgument(f"dockerfile:{inst.line}: When using {inst.cmd} with more "
                                  "than one source file, the destination must be a directory "
                                  "and end with a /")
        # Where dest lands in the image: through its symlinks, and inside a directory it
        # names (Docker: `COPY a.txt /existing-dir` puts a.txt in it, not over it).
        dest, dest_stats = self._dest_in_image(state, stg, work, dest)
        layer_dir = os.path.join(work, "layer-" + _rand())
        os.makedirs(layer_dir)
        chown = inst.flag("chown")
        chmod = inst.flag("chmod")
        mode = None
        if chmod:
            try:
                mode = int(chmod, 8)
            except ValueError:
                raise InvalidArgument(f"dockerfile:{inst.line}: invalid chmod "
                                      f"{chmod!r}") from None
        copied: list[str] = []
        for unsupported in ("parents", "exclude", "checksum", "keep-git-dir"):
            if inst.flag(unsupported) is not None:
                raise Unsupported(f"dockerfile:{inst.line}: {inst.cmd} --{unsupported} is not "
                                  "supported yet")
        with contextlib.ExitStack() as stack:
            from_ref = inst.flag("from")
            if from_ref:
                ref = process_word(from_ref, env, df.escape).lower()
                idx = self._stage_index(ref, all_stages, stage)
                if idx is not None:
                    src_state = results[idx]
                else:
                    try:
                        image = self.images.get(ref)
                    except NotFound:
                        raise NotFound(f"dockerfile:{inst.line}: {ref}: no stage or image of "
                                       "that name") from None
                    doc = self.images.image_config(image.id)
                    man = self.images.manifest(image)
                    src_state = _State(
                        [[d, m["digest"], m["mediaType"], m["size"]] for d, m in zip(
                            doc["rootfs"]["diff_ids"], man["layers"], strict=True)],
                        {}, [], "", st_mod.StageState({}))
                src_root = (stack.enter_context(self._rootfs(src_state, stg, work,
                                                             writable=False))[0]
                            if src_state.layers else os.path.join(work, "empty"))
                os.makedirs(src_root, exist_ok=True)
                resolved = []
                for s in srcs:
                    pattern = process_word(s, env, df.escape)
                    resolved.extend(_glob_root(src_root, pattern, inst.line))
                pairs = [(os.path.join(src_root, r), r, False) for r in resolved]
            else:
                pairs = []
                for s in srcs:
                    if s.startswith("<<"):
                        continue
                    if inst.cmd == "ADD" and "://" in s:
                        pairs.append((self._fetch(s, work, inst.line), s.rstrip("/").rsplit(
                            "/", 1)[-1] or "download", False))
                        continue
                    pattern = process_word(s, env, df.escape)
                    for rel in ctx.resolve(pattern):
                        pairs.append((os.path.join(ctx.root, rel) if rel != "." else ctx.root,
                                      rel, True))
            for hd in inst.heredocs:
                p = os.path.join(work, "heredoc-" + _rand())
                content = hd.content
                if hd.expand:
                    content = process_word(content.replace('"', '\\"').join('""'), env,
                                           df.escape) if "$" in content else content
                with open(p, "w") as f:
                    f.write(content)
                os.chmod(p, 0o644)
                pairs.append((p, hd.name, False))
            for path, rel, from_ctx in pairs:
                name = os.path.basename(rel.rstrip("/")) or rel
                is_dir = os.path.isdir(path) and not os.path.islink(path)
                if is_dir:
                    target = dest
                elif dest.endswith("/"):
                    target = os.path.join(dest, name)
                else:
                    target = dest
                out = os.path.join(layer_dir, target.lstrip("/"))
                if (inst.cmd == "ADD" and not is_dir and "://" not in rel
                        and _is_archive(path)):
                    _extract(path, os.path.join(layer_dir, dest.lstrip("/")))
                    continue
                _copy_tree(path, out, ctx if from_ctx else None, rel if from_ctx else None)
                copied.append(target)
        # The directories leading to dest are in the layer only as parents: one the image
        # already has keeps its mode and owner (else `COPY x /tmp/` would turn /tmp's 1777
        # into 0755), and --chmod never applies to them (Docker gives new parents 0755).
        kept = {p: st_ for p, st_ in dest_stats.items()
                if os.path.isdir(os.path.join(layer_dir, p))
                and not os.path.islink(os.path.join(layer_dir, p))}
        for fp in ctx_paths(layer_dir):
            full = os.path.join(layer_dir, fp)
            if mode is not None and fp not in kept and not os.path.islink(full):
                os.chmod(full, mode)
        uid, gid = 0, 0
        if chown:
            uid, gid = self._resolve_user(chown, state, stg, work, inst.line)
        for fp in ctx_paths(layer_dir):
            if kept.get(fp) is None:
                os.lchown(os.path.join(layer_dir, fp), uid, gid)
        for fp, st_ in kept.items():
            if st_ is not None:
                full = os.path.join(layer_dir, fp)
                os.chmod(full, stat.S_IMODE(st_.st_mode))
                os.lchown(full, st_.st_uid, st_.st_gid)
                os.utime(full, ns=(st_.st_atime_ns, st_.st_mtime_ns))
        self._add_dir_layer(state, stg, layer_dir)
        from minke.build.stages import copy_created_by

        state.history.append(self._hist(copy_created_by(inst), empty=False))

    def _dest_in_image(self, state: _State, stg: Any, work: str, dest: str
                       ) -> tuple[str, dict[str, os.stat_result | None]]:
        """dest resolved in the image (symlinks followed inside its root; a trailing / added
        when it is a directory there), and the image's stat of each directory on the way
        (None where the image lacks it), so the layer keeps their modes and owners."""
        parts = [p for p in dest.strip("/").split("/") if p]
        if not state.layers:
            return dest, {"/".join(parts[:i]): None for i in range(1, len(parts) + 1)}
        with self._rootfs(state, stg, work, writable=False) as (root, _):
            rel = _resolve_in_root(root, parts)
            full = os.path.join(root, rel)
            if rel and os.path.isdir(full) and not os.path.islink(full):
                dest = "/" + rel + "/"
            else:
                dest = "/" + rel + ("/" if dest.endswith("/") else "")
            stats: dict[str, os.stat_result | None] = {}
            rparts = rel.split("/") if rel else []
            for i in range(1, len(rparts) + 1):
                p = "/".join(rparts[:i])
                try:
                    st_ = os.lstat(os.path.join(root, p))
                except OSError:
                    st_ = None
                stats[p] = st_ if st_ is not None and stat.S_ISDIR(st_.st_mode) else None
        return dest, stats

    def _fetch(self, url: str, work: str, line: int) -> str:
        import shutil
        import urllib.request

        if (work, url) in self._fetched:  # fetched once per build: for the key, then the copy
            return self._fetched[(work, url)]
        path = os.path.join(work, "url-" + _rand())
        try:
            with urllib.request.urlopen(url, timeout=30) as r, open(path, "wb") as f:  # noqa: S310
                shutil.copyfileobj(r, f)
        except OSError as exc:
            raise NotFound(f"dockerfile:{line}: failed to fetch {url}: {exc}") from None
        os.chmod(path, 0o600)
        self._fetched[(work, url)] = path
        return path

    def _resolve_user(self, spec: str, state: _State, stg: Any, work: str,
                      line: int) -> tuple[int, int]:
        user, _, group = spec.partition(":")
        if user.isdigit() and (not group or group.isdigit()):
            return int(user), int(group) if group else int(user)
        if not state.layers:
            raise InvalidArgument(f"dockerfile:{line}: unable to find user {user}: no "
                                  "/etc/passwd in the image")
        with self._rootfs(state, stg, work, writable=False) as (root, _):
            return _lookup_user(root, user, group, line)

    # --- RUN -----------------------------------------------------------------------------
    def _run(self, df: Dockerfile, inst: Instruction, state: _State, ctx: BuildContext,
             opts: BuildOptions, stg: Any, work: str) -> None:
        import shutil

        from minke.archive.create import write_diff
        from minke.build.run import run_in_rootfs

        meta = state.meta
        shell = meta.shell()
        heredoc_mount: tuple[str, str, bool] | None = None
        if inst.json:
            argv = list(inst.args)
        elif inst.heredocs and inst.args[0].strip() in (f"<<{inst.heredocs[0].name}",
                                                        f"<<-{inst.heredocs[0].name}",
                                                        f"<<'{inst.heredocs[0].name}'",
                                                        f'<<"{inst.heredocs[0].name}"') \
                and len(inst.heredocs) == 1:
            argv = [*shell, inst.heredocs[0].content]
            if inst.heredocs[0].content.startswith("#!"):
                # Docker runs a heredoc with a shebang as a script file, by its interpreter
                script_file = os.path.join(work, "heredoc-" + _rand())
                with open(script_file, "w") as f:
                    f.write(inst.heredocs[0].content)
                os.chmod(script_file, 0o755)
                # under /dev, a tmpfs of the step: the file never lands in the layer
                argv = ["/dev/.minke-heredoc-" + os.path.basename(script_file)]
                heredoc_mount = (script_file, argv[0], True)
        else:
            script = inst.args[0]
            for hd in inst.heredocs:
                script += "\n" + hd.content + hd.name
            argv = [*shell, script]
        # The predefined proxy args reach RUN without an ARG line (and stay out of history)
        env_map = {**{k: v for k, v in opts.build_args.items() if k in st_mod.PROXY_ARGS},
                   **meta.args, **meta.env()}
        env_list = [f"{k}={v}" for k, v in env_map.items()]
        network = inst.flag("network") or opts.network
        if network not in ("default", "none", "host"):
            raise InvalidArgument(f"dockerfile:{inst.line}: unsupported network mode "
                                  f"{network!r}")
        mounts: list[tuple[str, str, bool]] = []
        n_ssh = 0
        if heredoc_mount is not None:
            mounts.append(heredoc_mount)
        for m in inst.flag_all("mount"):
            spec = parse_mount(m, inst.line)
            if spec.type == "cache":
                cache_dir = os.path.join(self.engine.config.root, "build", "cache-mounts",
                                         hexdigest(spec.id.encode())[:32])
                os.makedirs(cache_dir, exist_ok=True)
                mounts.append((cache_dir, spec.target, spec.readonly))
            elif spec.type == "tmpfs":
                d = os.path.join(work, "tmpfs-" + _rand())
                os.makedirs(d)
                mounts.append((d, spec.target, False))
            elif spec.type == "bind" and not spec.from_:
                src = ctx.resolve(spec.source or ".")[0]
                src_path = os.path.join(ctx.root, src) if src != "." else ctx.root
                rw = m.endswith(",rw") or ",rw," in m or ",readwrite" in m
                if rw:
                    # Docker discards what RUN writes to a rw bind: never the user's files
                    copy_ = os.path.join(work, "bind-" + _rand())
                    if os.path.isdir(src_path):
                        _copy_tree(src_path, copy_, ctx, src)
                    else:
                        os.makedirs(copy_)
                        copy_ = os.path.join(copy_, os.path.basename(src_path))
                        shutil.copy2(src_path, copy_)
                    src_path = copy_
                mounts.append((src_path, spec.target, not rw))
            elif spec.type == "secret":
                value = opts.secrets.get(spec.id)
                if value is None:
                    if spec.required:
                        raise NotFound(f"dockerfile:{inst.line}: secret {spec.id} not found")
                    continue  # BuildKit: an optional secret that was not given is left out
                if spec.env:
                    env_list.append(f"{spec.env}={value.decode('utf-8', 'replace')}")
                if spec.target:
                    d = os.path.join(work, "secret-" + _rand())
                    os.makedirs(d, mode=0o700)
                    path = os.path.join(d, "value")
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                    with os.fdopen(fd, "wb") as f:
                        f.write(value)
                    os.chmod(path, spec.mode if spec.mode is not None else 0o400)
                    os.chown(path, spec.uid or 0, spec.gid or 0)
                    mounts.append((path, spec.target, True))
            elif spec.type == "ssh":
                sock = opts.ssh.get(spec.id)
                if sock is None:
                    if spec.required:
                        raise NotFound(f"dockerfile:{inst.line}: ssh {spec.id} not found: "
                                       "give it with --ssh")
                    continue
                # The agent's own socket, bound: BuildKit proxies it (and so can apply
                # uid/gid/mode); connecting works the same and nothing lands in a layer.
                target = spec.target or f"/run/buildkit/ssh_agent.{n_ssh}"
                n_ssh += 1
                mounts.append((sock, target, False))
                env_list.append(f"SSH_AUTH_SOCK={target}")
            else:
                raise Unsupported(f"dockerfile:{inst.line}: RUN --mount=type={spec.type}"
                                  f"{' from a stage' if spec.from_ else ''} is not supported "
                                  "yet")
        with self._rootfs(state, stg, work, writable=True) as (root, snap_mounts):
            user = state.config.get("User") or ""
            uid, gid = (0, 0)
            if user:
                u, _, g = user.partition(":")
                uid, gid = _lookup_user(root, u, g, inst.line)
            # Files the step's mounts need that the image lacks (binds of files, the host's
            # resolv.conf and hosts): mount points only, never layer content.
            made = [p for p in ("etc/hosts", "etc/resolv.conf",
                                *(t.lstrip("/") for _, t, _ in mounts if not t.startswith("/dev/")))
                    if not os.path.lexists(os.path.join(root, p))]
            for src_, target, _ in mounts:
                point = os.path.join(root, target.lstrip("/"))
                if target.startswith("/dev/"):
                    continue  # runc makes it on the step's /dev tmpfs
                if os.path.isdir(src_):
                    os.makedirs(point, exist_ok=True)
                elif not os.path.lexists(point):  # a file bind needs a file to mount on
                    os.makedirs(os.path.dirname(point), exist_ok=True)
                    open(point, "ab").close()
            result = run_in_rootfs(
                root, argv, env=env_list, cwd=state.config.get("WorkingDir") or "/",
                uid=uid, gid=gid, network="host" if network == "default" else network,
                mounts=mounts, work_dir=work, runtime=opts.runtime,
                state_root=os.path.join(self.engine.config.run_root, "build-runc"))
            if result.exit_code != 0:
                tail = result.output.decode("utf-8", "replace").strip().splitlines()[-10:]
                shown = " ".join(argv)
                raise MinkeError(
                    f"dockerfile:{inst.line}: process \"{shown}\" did not complete "
                    f"successfully: exit code: {result.exit_code}"
                    + ("\n" + "\n".join(tail) if tail else ""))
            for line in result.output.decode("utf-8", "replace").splitlines():
                self._emit(f"#{self._n} {line}")
            upper = next((m.option("upperdir") for m in snap_mounts
                          if m.option("upperdir")), None)
            if upper is None:
                raise Unsupported("RUN needs the overlay snapshotter (no upperdir)")
            # The mount points made for binds are not content (BuildKit removes them too).
            for _, target, _ in mounts:
                with contextlib.suppress(OSError):
                    os.rmdir(os.path.join(upper, target.lstrip("/")))
            for p in made:
                point = os.path.join(upper, p)
                if (os.path.isfile(point) and not os.path.islink(point)
                        and os.path.getsize(point) == 0):
                    os.unlink(point)
                    parent = os.path.dirname(point)
                    # The dirs made for it, up to (never) the upper dir itself: only the
                    # empty ones, and an opaque dir (the step replaced it) stays.
                    while parent.startswith(upper + os.sep):
                        try:
                            os.getxattr(parent, "trusted.overlay.opaque")
                            break
                        except OSError:
                            pass
                        try:
                            os.rmdir(parent)
                        except OSError:
                            break
                        parent = os.path.dirname(parent)
            empty = not os.listdir(upper)
            if not empty:
                tar_path = os.path.join(work, "run-" + _rand() + ".tar")
                with open(tar_path, "wb") as f:
                    write_diff(upper, f)
                self._add_layer(state, stg, tar_path)
                os.unlink(tar_path)
        used = {k: v for k, v in meta.args.items() if k not in meta.env()}
        state.history.append(self._hist(st_mod.run_created_by(inst, shell, used),
                                        empty=empty))

    # --- the image -----------------------------------------------------------------------
    def _ensure_workdir(self, state: _State, stg: Any, work: str) -> None:
        """Docker makes WORKDIR's directory even when no later step does (a RUN's cwd or a
        COPY into it would): a final image whose WorkingDir is missing gets it as a layer,
        at its WORKDIR history entry, owned by the USER of that point as BuildKit does."""

        wd = state.config.get("WorkingDir") or "/"
        if wd == "/":
            return
        dest, stats = self._dest_in_image(state, stg, work, wd.rstrip("/") + "/")
        rel = dest.strip("/")
        if rel and stats.get(rel) is not None:
            return
        layer_dir = os.path.join(work, "workdir-" + _rand())
        os.makedirs(os.path.join(layer_dir, rel))
        at = next((i for i in range(len(state.history) - 1, -1, -1)
                   if state.history[i].get("created_by") == f"WORKDIR {wd}"
                   and state.history[i].get("empty_layer")), None)
        user = state.config.get("User") or ""
        if at is not None:  # the USER in effect at that WORKDIR, not at the end
            user = next((h["created_by"][5:].strip() for h in reversed(state.history[:at])
                         if str(h.get("created_by", "")).startswith("USER ")), "")
        uid, gid = self._resolve_user(user, state, stg, work, 0) if user else (0, 0)
        parts = rel.split("/")
        for i in range(len(parts), 0, -1):
            p = "/".join(parts[:i])
            full = os.path.join(layer_dir, p)
            st_ = stats.get(p)
            if st_ is None:
                os.chmod(full, 0o755)
                os.lchown(full, uid, gid)
            else:
                os.chmod(full, stat.S_IMODE(st_.st_mode))
                os.lchown(full, st_.st_uid, st_.st_gid)
                os.utime(full, ns=(st_.st_atime_ns, st_.st_mtime_ns))
        self._add_dir_layer(state, stg, layer_dir)
        layer = state.layers.pop()
        # Put the layer where its WORKDIR entry is, when history and layers line up.
        nonempty = [i for i, h in enumerate(state.history) if not h.get("empty_layer")]
        if at is not None and len(nonempty) == len(state.layers):
            state.layers.insert(sum(1 for i in nonempty if i < at), layer)
            state.history[at] = {k: v for k, v in state.history[at].items()
                                 if k != "empty_layer"}
        else:
            state.layers.append(layer)
            state.history.append(self._hist(f"WORKDIR {wd}", empty=False))

    def _store(self, state: _State, opts: BuildOptions, stg: Any) -> str:
        from minke.images.importer import build_manifest, host_arch
        from minke.images.model import OCI_MANIFEST, format_time, oci_config_bytes
        from minke.images.unpack import LayerRef

        cfg = dict(state.config)
        if opts.labels:
            cfg["Labels"] = {**(cfg.get("Labels") or {}), **opts.labels}
        chain, sizes = (stg.unpack([LayerRef(lay[0], lay[1]) for lay in state.layers])
                        if state.layers else (None, []))
        arch, variant = host_arch()
        config_bytes = oci_config_bytes(
            created=format_time(), architecture=arch, variant=variant, os="linux",
            config=cfg, diff_ids=[lay[0] for lay in state.layers], history=state.history)
        config_digest = stg.put(config_bytes)
        manifest = build_manifest(config_digest, len(config_bytes),
                                  [(lay[2], lay[1], lay[3]) for lay in state.layers])
        stg.put(manifest)
        tags = [self.images.normalise_tag(t) for t in opts.tags]
        image_id, _ = self.images.store_image(
            config_bytes=config_bytes, manifest_bytes=manifest,
            manifest_media_type=OCI_MANIFEST,
            layers=[(lay[0], lay[1], lay[2], lay[3]) for lay in state.layers],
            chain_id=chain, size=sum(sizes), tags=tags)
        return str(image_id)


def ctx_paths(root: str) -> list[str]:
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            out.append(os.path.relpath(os.path.join(dirpath, name), root))
    return sorted(out)


def _glob_root(root: str, pattern: str, line: int) -> list[str]:
    ctx = BuildContext(root, __import__("minke.build.context", fromlist=["Ignore"]).Ignore())
    try:
        return ctx.resolve(pattern)
    except NotFound:
        raise NotFound(f"dockerfile:{line}: {pattern}: not found in the source stage") from None


def _resolve_in_root(root: str, parts: list[str], _depth: int = 0) -> str:
    """The path (relative to root, no leading /) that parts name inside root, following
    symlinks as if root were /; a missing component ends the lookup with the rest as is.
    A final symlink is followed only when it leads to a directory."""
    out: list[str] = []
    todo = list(parts)
    hops = _depth
    while todo:
        name = todo.pop(0)
        if name in ("", "."):
            continue
        if name == "..":
            if out:
                out.pop()
            continue
        here = os.path.join(root, *out, name)
        if os.path.islink(here) and hops < 40:
            target = os.readlink(here)
            if not todo:
                probe = _resolve_in_root(root, [*([] if target.startswith("/") else out),
                                                *target.split("/")], hops + 1)
                if not probe or not os.path.isdir(os.path.join(root, probe)):
                    out.append(name)
                    continue
            hops += 1
            if target.startswith("/"):
                out = []
            todo = [*target.split("/"), *todo]
            continue
        out.append(name)
        if not os.path.lexists(here):
            out.extend(p for p in todo if p not in ("", "."))
            break
    return "/".join(out)


def _copy_tree(src: str, dst: str, ctx: BuildContext | None, rel: str | None) -> None:
    """Copy a file, link or a directory's contents (not the directory itself) to dst."""
    import shutil

    if os.path.isdir(src) and not os.path.islink(src):
        os.makedirs(dst, exist_ok=True)
        names = sorted(os.listdir(src))
        for name in names:
            child_rel = f"{rel}/{name}" if rel not in (None, ".") else name
            if ctx is not None and ctx.ignore.excluded(child_rel):
                continue
            s = os.path.join(src, name)
            if os.path.isdir(s) and not os.path.islink(s):
                _copy_tree(s, os.path.join(dst, name), ctx, child_rel)
                shutil.copystat(s, os.path.join(dst, name))
            else:
                _copy_tree(s, os.path.join(dst, name), ctx, child_rel)
        return
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    if os.path.lexists(dst) and (os.path.isdir(dst) and not os.path.islink(dst)):
        dst = os.path.join(dst, os.path.basename(src))
    if os.path.islink(src):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(dst)
        os.symlink(os.readlink(src), dst)
    else:
        shutil.copy2(src, dst, follow_symlinks=False)


def _is_archive(path: str) -> bool:
    try:
        import tarfile

        return stat.S_ISREG(os.stat(path).st_mode) and tarfile.is_tarfile(path)
    except OSError:
        return False


def _extract(path: str, dest: str) -> None:
    from minke.archive.apply import apply_layer

    os.makedirs(dest, exist_ok=True)
    with open(path, "rb") as f:
        apply_layer(f, dest)


def _lookup_user(root: str, user: str, group: str, line: int) -> tuple[int, int]:
    uid = gid = None
    if user.isdigit():
        uid = int(user)
    try:
        with open(os.path.join(root, "etc/passwd")) as f:
            for entry in f:
                parts = entry.strip().split(":")
                if len(parts) >= 4 and (parts[0] == user or (uid is not None and
                                                             parts[2] == user)):
                    uid, gid = int(parts[2]), int(parts[3])
                    break
    except FileNotFoundError:
        pass
    if uid is None:
        raise InvalidArgument(f"dockerfile:{line}: unable to find user {user}: no matching "
                              "entries in passwd file")
    if gid is None:
        gid = uid if user.isdigit() else 0
    if group:
        if group.isdigit():
            gid = int(group)
        else:
            found = None
            try:
                with open(os.path.join(root, "etc/group")) as f:
                    for entry in f:
                        parts = entry.strip().split(":")
                        if len(parts) >= 3 and parts[0] == group:
                            found = int(parts[2])
                            break
            except FileNotFoundError:
                pass
            if found is None:
                raise InvalidArgument(f"dockerfile:{line}: unable to find group {group}: no "
                                      "matching entries in group file")
            gid = found
    return uid, gid
