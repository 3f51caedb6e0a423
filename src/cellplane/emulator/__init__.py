"""emulator layer of cellplane."""
