"""SPD: temporal alignment as object detection on the similarity map (SSAN, section 3.2)."""
