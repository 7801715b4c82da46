"""Qt-free application logic: readers, dataset layout, generator, schemes, CLI."""
