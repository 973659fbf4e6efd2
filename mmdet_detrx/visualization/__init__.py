"""Pictures of detectors' inner workings (``tools/analysis``). Not imported by ``mmdet_detrx`` itself: it needs
matplotlib (Agg backend)."""
