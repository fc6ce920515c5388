"""Validates a COCO export against the masks it came from, with pycocotools as the independent reader.

usage: validate_coco.py coco.json manifest.json
manifest: {"<file_name>": "<path of the mask GeoTIFF>", ...}
Prints one JSON line: counts and a list of problems (empty when the export is exact).
"""
import json
import sys

import numpy as np
import rasterio
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO


def main(coco_path: str, manifest_path: str) -> None:
    with open(manifest_path) as f:
        manifest = json.load(f)
    coco = COCO(coco_path)
    problems = []
    stats = {"images": 0, "annotations": 0, "polygons": 0, "rles": 0, "category_pixels": {}, "mask_pixels": {}}
    value_of = {c["id"]: c["pixel_value"] for c in coco.loadCats(coco.getCatIds())}
    for image in coco.loadImgs(coco.getImgIds()):
        stats["images"] += 1
        name = image["file_name"]
        with rasterio.open(manifest[name]) as src:
            mask = src.read(1)
            if (image["height"], image["width"]) != mask.shape:
                problems.append(f"{name}: size {image['height']}x{image['width']} vs mask {mask.shape}")
                continue
            geo = image.get("geo")
            if src.crs is not None:
                if geo is None or geo.get("epsg") != src.crs.to_epsg():
                    problems.append(f"{name}: geo {geo} vs CRS {src.crs}")
                elif not np.allclose(geo["geotransform"], src.transform.to_gdal()):
                    problems.append(f"{name}: geotransform {geo['geotransform']} vs {src.transform.to_gdal()}")
        for cat_id, value in value_of.items():
            union = np.zeros(mask.shape, dtype=np.int32)
            for ann in coco.loadAnns(coco.getAnnIds(imgIds=[image["id"]], catIds=[cat_id], iscrowd=None)):
                stats["annotations"] += 1
                segm = ann["segmentation"]
                stats["rles" if isinstance(segm, dict) else "polygons"] += 1
                m = coco.annToMask(ann)
                if int(m.sum()) != ann["area"]:
                    problems.append(f"{name} ann {ann['id']}: annToMask has {int(m.sum())} pixels, area {ann['area']}")
                rle = mask_utils.encode(np.asfortranarray(m))
                if list(mask_utils.toBbox(rle)) != ann["bbox"]:
                    problems.append(f"{name} ann {ann['id']}: bbox {ann['bbox']} vs {list(mask_utils.toBbox(rle))}")
                if isinstance(segm, dict) and rle["counts"].decode() != segm["counts"]:
                    problems.append(f"{name} ann {ann['id']}: RLE counts differ from pycocotools' encoding")
                union += m
            expected = mask == value
            if union.max(initial=0) > 1:
                problems.append(f"{name} category {cat_id}: annotations overlap")
            if not np.array_equal(union > 0, expected):
                diff = int(np.sum((union > 0) != expected))
                problems.append(f"{name} category {cat_id}: {diff} pixels differ from the mask")
            key = str(value)
            stats["category_pixels"][key] = stats["category_pixels"].get(key, 0) + int(
                sum(a["area"] for a in coco.loadAnns(coco.getAnnIds(imgIds=[image["id"]], catIds=[cat_id])))
            )
            stats["mask_pixels"][key] = stats["mask_pixels"].get(key, 0) + int(expected.sum())
    print(json.dumps({**stats, "problems": problems[:50], "problem_count": len(problems)}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
