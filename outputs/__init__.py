"""What a run is turned into for people and trainers: export formats, the dataset card, the report."""
