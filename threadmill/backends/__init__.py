"""Task backends: the queue-agnostic interface (`base`) and its Redis implementation."""
