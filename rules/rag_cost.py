"""The RAG-versus-fine-tuning cost model: per-request and fixed costs, break-even, Cost-of-Pass.

Both designs answer the same questions with the same base model family; they differ in where the
knowledge lives:

* **RAG** pays per request for the retrieved context (input tokens) and the query embedding, and
  per month for the vector store that holds the documents.
* **Fine-tuning** pays per request only for the prompt without retrieved context, and per month
  for training amortised over the retrain interval (knowledge goes stale: retrain as the corpus
  changes) plus any dedicated hosting a tuned model needs.

Monthly cost at volume V is ``V × per_request + fixed``; the two lines cross at the break-even
volume ``V* = (fixed_ft − fixed_rag) / (per_request_rag − per_request_ft)`` when that is a
positive volume — whichever design has the more expensive request, as long as it has the
cheaper fixed cost (none when one design is cheaper at every volume: equal per-request costs,
or one design cheaper both per request and per month).  Above V* the design with the cheaper
request wins.  With accuracy figures, the cost per *correct* answer —
Cost-of-Pass (Erol et al., arXiv 2504.13359) — is ``monthly cost / (V × accuracy)``: a cheaper
design that answers wrongly more often can cost more per useful answer.  Money is Decimal
throughout; accuracies are fractions in (0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

CENT = Decimal("0.01")
MICRO = Decimal("0.000001")


@dataclass(frozen=True)
class Design:
    """One design's costs: per request, fixed per month, and (optionally) its accuracy."""

    name: str
    per_request: Decimal
    fixed_monthly: Decimal
    accuracy: Decimal | None = None

    def monthly(self, volume: Decimal) -> Decimal:
        return volume * self.per_request + self.fixed_monthly

    def cost_of_pass(self, volume: Decimal) -> Decimal | None:
        """Monthly cost per correct answer; None without accuracy or volume."""
        if self.accuracy is None or not volume:
            return None
        return self.monthly(volume) / (volume * self.accuracy)


@dataclass(frozen=True)
class Comparison:
    rag: Design
    finetune: Design
    volume: Decimal  # requests per month, measured

    @property
    def break_even(self) -> Decimal | None:
        """Requests a month at which both designs cost the same (None: the lines never cross
        at a positive volume); above it :attr:`cheaper_above_break_even` is cheaper."""
        slope = self.rag.per_request - self.finetune.per_request
        fixed = self.finetune.fixed_monthly - self.rag.fixed_monthly
        if slope == 0:
            return None
        volume = fixed / slope
        return volume.quantize(Decimal(1)) if volume > 0 else None

    @property
    def cheaper_above_break_even(self) -> Design | None:
        """The design with the cheaper request: the cheaper one above the break-even volume."""
        if self.break_even is None:
            return None
        return self.rag if self.rag.per_request < self.finetune.per_request else self.finetune

    def cheaper(self, by_cost_of_pass: bool = True) -> Design:
        """The design with the lower cost per correct answer when both accuracies are known,
        else the lower monthly cost at the measured volume."""
        a, b = self.rag, self.finetune
        if by_cost_of_pass:
            pa, pb = a.cost_of_pass(self.volume), b.cost_of_pass(self.volume)
            if pa is not None and pb is not None:
                return a if pa <= pb else b
        return a if a.monthly(self.volume) <= b.monthly(self.volume) else b

    def as_evidence(self) -> dict[str, object]:
        def design(d: Design) -> dict[str, object]:
            cop = d.cost_of_pass(self.volume)
            return {
                "per_request": str(d.per_request.quantize(MICRO)),
                "fixed_monthly": str(d.fixed_monthly.quantize(CENT)),
                "monthly_at_volume": str(d.monthly(self.volume).quantize(CENT)),
                "accuracy": str(d.accuracy) if d.accuracy is not None else None,
                "cost_per_correct_answer": str(cop.quantize(MICRO)) if cop is not None else None,
            }

        be = self.break_even
        above = self.cheaper_above_break_even
        return {
            "requests_per_month": str(self.volume.quantize(Decimal(1))),
            "rag": design(self.rag),
            "finetune": design(self.finetune),
            "break_even_requests_per_month": str(be) if be is not None else None,
            "cheaper_above_break_even": above.name if above is not None else None,
            "formula": "monthly = V × per_request + fixed; V* = Δfixed / Δper_request; "
            "cost per correct answer = monthly / (V × accuracy)",
        }
