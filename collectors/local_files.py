"""``local_files``: export files on disk (offline use, the demo, a synced bucket folder).

It is the ``import`` command on a schedule: the same readers, the same slice-replacing loader.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from collectors.base import CollectResult, SourceConfig, register


class LocalFilesConfig(SourceConfig):
    type: Literal["local_files"] = "local_files"
    paths: list[str]


@register("local_files")
class LocalFilesCollector:
    config_model: ClassVar[type[SourceConfig]] = LocalFilesConfig

    def __init__(self, config: SourceConfig) -> None:
        assert isinstance(config, LocalFilesConfig)
        self.config = config

    def collect(
        self, engine: Any, settings: Any, since: Any = None, until: Any = None
    ) -> CollectResult:
        from agent.importer import import_paths

        summary = import_paths(
            engine, self.config.paths, settings, source=self.config.name, record=False
        )
        return CollectResult(slices=tuple(summary.slices), rows=summary.total_rows)
