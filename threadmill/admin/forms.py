"""Forms of the admin actions: a selection of task ids."""

from __future__ import annotations

from typing import Any

from django import forms

from threadmill.admin.views.common import MAX_SELECTION

MAX_ID_LENGTH = 255


class TaskIdsField(forms.Field):
    """A list of task ids (`ids=a&ids=b`), unique, in the order given."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value: Any) -> list[str]:
        if not value:
            return []
        if isinstance(value, str):
            value = [value]
        ids: list[str] = []
        for item in value:
            item = str(item).strip()
            if item and item not in ids:
                ids.append(item)
        return ids

    def validate(self, value: list[str]) -> None:
        if not value:
            raise forms.ValidationError("Select at least one task.", code="required")
        if len(value) > MAX_SELECTION:
            raise forms.ValidationError(
                f"At most {MAX_SELECTION} tasks at a time; use the whole-set actions for more.",
                code="too_many",
            )
        if any(len(i) > MAX_ID_LENGTH for i in value):
            raise forms.ValidationError("That is not a task id.", code="invalid")


class SelectionForm(forms.Form):
    """Requeue or purge the selected tasks; `confirmed` is set by the confirmation page."""

    ids = TaskIdsField()
    queue = forms.CharField(required=False, max_length=200)  # purge hint for ghost entries
    next = forms.CharField(required=False, max_length=2000)
    confirmed = forms.BooleanField(required=False)
