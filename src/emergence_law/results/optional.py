"""Optional parts of a result: absent from its JSON record when they were not computed.

Why: several records (``demo.json``, ``lab_summary.json``, ``passuntil_curvature.json``) have
parts that exist only for some runs (a gate, a backtest, a simulation's truth), and their readers
test ``"gate" in summary`` or ``summary.get("gate", {})``. Writing ``"gate": null`` would break
those contracts, so such fields are declared ``OPTIONAL`` and left out while they are None.
"""

from __future__ import annotations

from typing import Any, ClassVar


class OmitsAbsent:
    """Mixin placed before :class:`~emergence_law.results.base.Result`: the fields named in
    ``OPTIONAL`` are left out of :meth:`to_dict` while None (and load back as None)."""

    OPTIONAL: ClassVar[tuple[str, ...]] = ()

    def to_dict(self) -> dict[str, Any]:
        record = super().to_dict()  # type: ignore[misc]
        return {k: v for k, v in record.items() if not (k in self.OPTIONAL and v is None)}
