"""``local_files``: export files on disk (offline use, the demo, a synced bucket folder).

It is the ``import`` command on a schedule: the same readers, the same slice-replacing loader.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from sqlalchemy import Engine

from agent.settings import CoreSettings
from collectors.base import Collector, CollectorMeta, CollectResult, Day, SourceConfig
from collectors.importer import import_paths


class LocalFilesConfig(SourceConfig):
    type: Literal["local_files"] = "local_files"
    paths: list[str] = Field(
        description="files or folders of export files; the format is detected",
        examples=[["/srv/billing/focus"]],
    )


class LocalFilesCollector(Collector[LocalFilesConfig]):
    meta = CollectorMeta(summary="export files on disk, any format `costagent import` reads")

    def collect(
        self, engine: Engine, settings: CoreSettings, since: Day = None, until: Day = None
    ) -> CollectResult:
        summary = import_paths(
            engine, self.config.paths, settings, source=self.config.name, record=False
        )
        return CollectResult(slices=tuple(summary.slices), rows=summary.total_rows)
