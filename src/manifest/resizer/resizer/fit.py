def fit(width, height, box):
    scale = min(box / width, box / height, 1)
    return {"width": round(width * scale), "height": round(height * scale)}
