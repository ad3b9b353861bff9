"""Named query functions, by table."""
