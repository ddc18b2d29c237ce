"""The Textual app: the creature (face, orbs, heart) and its status line."""
