"""Geo math for geo filters and the geo payload index.

Distances are haversine distances in meters on a sphere of the mean Earth
radius, like Qdrant. Every check has a scalar form (used by filters, one
point at a time) and a numpy form (used by the geo index over all points).
Boundaries follow Qdrant: strict inequalities for boxes and radii.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from consensus.errors import BadInput

EARTH_RADIUS_M = 6371008.8
"""Mean Earth radius in meters (the value the ``geo`` crate Qdrant uses)."""


@dataclass(frozen=True)
class GeoPoint:
    """A point on Earth, in degrees."""

    lon: float
    lat: float

    def to_json(self) -> dict[str, float]:
        return {"lon": self.lon, "lat": self.lat}


def _number(raw: Any, what: str) -> float:
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        raise BadInput(f"{what} must be a number, got {raw!r}")
    value = float(raw)
    if not math.isfinite(value):
        raise BadInput(f"{what} must be a finite number, got {raw!r}")
    return value


def parse_geo_point(raw: Any, what: str = "geo point") -> GeoPoint:
    """Parse ``{"lon": .., "lat": ..}`` from a request, checking coordinate ranges."""
    if not isinstance(raw, dict):
        raise BadInput(f"{what} must be an object with 'lon' and 'lat', got {raw!r}")
    if "lon" not in raw or "lat" not in raw:
        raise BadInput(f"{what} must have both 'lon' and 'lat'")
    extra = set(raw) - {"lon", "lat"}
    if extra:
        raise BadInput(f"{what} has unknown fields: {sorted(extra)}")
    lon = _number(raw["lon"], f"{what}.lon")
    lat = _number(raw["lat"], f"{what}.lat")
    if not -180.0 <= lon <= 180.0:
        raise BadInput(f"{what}: lon = {lon} must be within [-180; 180]")
    if not -90.0 <= lat <= 90.0:
        raise BadInput(f"{what}: lat = {lat} must be within [-90; 90]")
    return GeoPoint(lon=lon, lat=lat)


def payload_geo_point(value: Any) -> tuple[float, float] | None:
    """``(lon, lat)`` of a payload value that is a geo object, else None (no range check)."""
    if type(value) is not dict:
        return None
    lon = value.get("lon")
    lat = value.get("lat")
    if type(lon) not in (int, float) or type(lat) not in (int, float):
        return None
    return float(lon), float(lat)


def valid_payload_geo_point(value: Any) -> tuple[float, float] | None:
    """Like :func:`payload_geo_point`, but only for coordinates a geo index accepts."""
    point = payload_geo_point(value)
    if point is None:
        return None
    lon, lat = point
    if -180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0:
        return point
    return None


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance in meters."""
    phi1 = math.radians(lat1)
    phi2 = math.radians(lat2)
    d_phi = phi2 - phi1
    d_lambda = math.radians(lon2 - lon1)
    a = math.sin(d_phi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(d_lambda / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def haversine_m_np(lons: np.ndarray, lats: np.ndarray, lon: float, lat: float) -> np.ndarray:
    """Distances in meters from ``(lon, lat)`` to every point of the arrays."""
    phi1 = np.radians(lats)
    phi2 = math.radians(lat)
    d_phi = phi2 - phi1
    d_lambda = np.radians(lon - lons)
    a = np.sin(d_phi / 2) ** 2 + np.cos(phi1) * math.cos(phi2) * np.sin(d_lambda / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.minimum(1.0, np.sqrt(a)))


def in_bounding_box(lon: float, lat: float, top_left: GeoPoint, bottom_right: GeoPoint) -> bool:
    """Strictly inside the box; a box whose left edge is east of its right edge wraps the antimeridian."""
    if top_left.lon > bottom_right.lon:
        lon_ok = lon > top_left.lon or lon < bottom_right.lon
    else:
        lon_ok = top_left.lon < lon < bottom_right.lon
    return lon_ok and bottom_right.lat < lat < top_left.lat


def in_bounding_box_np(
    lons: np.ndarray, lats: np.ndarray, top_left: GeoPoint, bottom_right: GeoPoint
) -> np.ndarray:
    if top_left.lon > bottom_right.lon:
        lon_ok = (lons > top_left.lon) | (lons < bottom_right.lon)
    else:
        lon_ok = (lons > top_left.lon) & (lons < bottom_right.lon)
    return lon_ok & (lats > bottom_right.lat) & (lats < top_left.lat)


def _ring_contains(lon: float, lat: float, ring: tuple[GeoPoint, ...]) -> bool:
    inside = False
    count = len(ring)
    j = count - 1
    for i in range(count):
        xi, yi = ring[i].lon, ring[i].lat
        xj, yj = ring[j].lon, ring[j].lat
        if (yi > lat) != (yj > lat):
            x_cross = (xj - xi) * (lat - yi) / (yj - yi) + xi
            if lon < x_cross:
                inside = not inside
        j = i
    return inside


def _ring_contains_np(lons: np.ndarray, lats: np.ndarray, ring: tuple[GeoPoint, ...]) -> np.ndarray:
    inside = np.zeros(lons.shape, dtype=bool)
    count = len(ring)
    j = count - 1
    for i in range(count):
        xi, yi = ring[i].lon, ring[i].lat
        xj, yj = ring[j].lon, ring[j].lat
        crosses = (yi > lats) != (yj > lats)
        if yj != yi:
            x_cross = (xj - xi) * (lats - yi) / (yj - yi) + xi
            inside ^= crosses & (lons < x_cross)
        j = i
    return inside


def in_polygon(
    lon: float, lat: float, exterior: tuple[GeoPoint, ...], interiors: tuple[tuple[GeoPoint, ...], ...]
) -> bool:
    """Inside the exterior ring and outside every interior ring (ray casting, planar lon/lat)."""
    if not _ring_contains(lon, lat, exterior):
        return False
    return not any(_ring_contains(lon, lat, ring) for ring in interiors)


def in_polygon_np(
    lons: np.ndarray,
    lats: np.ndarray,
    exterior: tuple[GeoPoint, ...],
    interiors: tuple[tuple[GeoPoint, ...], ...],
) -> np.ndarray:
    mask = _ring_contains_np(lons, lats, exterior)
    for ring in interiors:
        mask &= ~_ring_contains_np(lons, lats, ring)
    return mask
