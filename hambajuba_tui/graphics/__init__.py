"""Terminal image output."""
