"""What every spec table shares: the closed, frozen pydantic base and plain values out.

:class:`_Table` is the base of every table model (:mod:`nsvd_cli.spec.potential`,
:mod:`nsvd_cli.spec.tables`, :class:`~nsvd_cli.spec.ProblemSpec`): frozen, unknown fields
refused.  :func:`_plain` turns a model dump into TOML / JSON / HDF5-friendly values.  This
module imports nothing else of nsvd.
"""

from pydantic import BaseModel, ConfigDict

__all__: list[str] = []  # private helpers of the spec package


class _Table(BaseModel):
    """Base of every spec table: frozen, unknown fields refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def _derive(self, **changes) -> "_Table":
        """A copy with derived values set, keeping which fields were given explicitly."""
        new = self.model_copy(update=changes)
        object.__setattr__(new, "__pydantic_fields_set__", set(self.model_fields_set))
        return new


def _plain(value):
    """Tuples -> lists, recursively (TOML / JSON / HDF5 attribute friendly)."""
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value
