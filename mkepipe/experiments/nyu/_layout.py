"""Random indoor scenes for the synthetic NYU default (internal): rooms, furniture,
materials, lighting and camera paths.

What makes depth more informative than colour here (see ``docs/nyu_data.md``): a
surface takes its class's typical material only with probability ``class_affinity``
(beds are usually covered in blue fabric, floors are usually dark wood), otherwise a
material from a small per-scene palette drawn *independently of the class*, so floor,
table, bed and wall often share one colour and texture; classes differ in geometry
instead (height of horizontal surfaces, orientation, protrusion from walls); and
lighting — a random light direction, exposure, white balance and shadow bands that
cross object boundaries — changes the colours but not the geometry. In the
``illumination`` appearance the lighting also changes from frame to frame
(:func:`sample_room_lights`, :func:`sample_frame_light`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mkepipe.experiments.nyu._render import Box, Camera, DirectLight, FrameLight, Lighting, Material, Room, cct_rgb
from mkepipe.experiments.nyu.classes import class_id40, raw_ids_of40

VARNISH, GLAZE = 40.0, 150.0  # Blinn-Phong exponents: varnished wood (soft sheen), glazed ceramic (sharp)
PALETTE = [  # shared by every class; chosen per surface at random. Paint, fabric and paper are matte
    Material((0.86, 0.85, 0.82), "plain"), Material((0.78, 0.70, 0.58), "plain"),
    Material((0.72, 0.55, 0.35), "wood", shininess=VARNISH), Material((0.42, 0.28, 0.17), "wood", shininess=VARNISH),
    Material((0.55, 0.55, 0.58), "fabric"), Material((0.32, 0.42, 0.62), "fabric"),
    Material((0.70, 0.44, 0.32), "tiles", shininess=GLAZE), Material((0.66, 0.66, 0.66), "tiles", shininess=GLAZE),
    Material((0.47, 0.60, 0.47), "stripes"), Material((0.88, 0.80, 0.66), "stripes"),
]
TYPICAL = {"wall": 0, "ceiling": 1, "cabinet": 2, "floor": 3, "sofa": 4, "bed": 5, "night stand": 6, "door": 7,
           "chair": 8, "table": 9}  # PALETTE index of each class's typical material
PAINTING = len(PALETTE)
GLASS = PAINTING + 1
MATERIALS = PALETTE + [Material((0.5, 0.5, 0.5), "painting", shininess=VARNISH),
                       Material((0.80, 0.88, 0.98), "plain", emissive=0.7)]

SCENE_TYPES = ("bedroom", "living_room", "dining_room", "office")
CLASSES = ("wall", "floor", "ceiling", "cabinet", "bed", "chair", "sofa", "table", "door", "window",
           "picture", "night stand")
ID = {name: class_id40(name) for name in CLASSES}


class _Builder:
    """Places furniture on the floor and fixtures on the walls without overlaps."""

    def __init__(self, rng: np.random.Generator, size: np.ndarray, palette: list[int], affinity: float) -> None:
        self.rng, self.size, self.palette, self.affinity = rng, size, palette, affinity
        self.boxes: list[Box] = []
        self.floor: list[tuple[float, float, float, float]] = []  # x0, x1, z0, z1
        self.wall: dict[str, list[tuple[float, float, float, float]]] = {"back": [], "left": [], "right": []}

    def material(self, name: str) -> int:
        """The class's typical material with probability ``affinity``, else one of the room's palette."""
        if self.rng.random() < self.affinity:
            return TYPICAL[name]
        return int(self.palette[self.rng.integers(len(self.palette))])

    def add(self, name: str, parts: list[tuple[tuple[float, ...], tuple[float, ...]]], material: int | None = None):
        label = ID[name]
        raw = int(self.rng.choice(raw_ids_of40()[label]))
        mat = self.material(name) if material is None else material
        self.boxes += [Box(np.array(lo, float), np.array(hi, float), label, raw, mat) for lo, hi in parts]

    def _free(self, rect: tuple[float, float, float, float]) -> bool:
        x0, x1, z0, z1 = rect
        return all(x1 + 0.1 < a0 or b1 + 0.1 < x0 or z1 + 0.1 < c0 or d1 + 0.1 < z0 for a0, b1, c0, d1 in self.floor)

    def _wall_free(self, wall: str, span: tuple[float, float, float, float]) -> bool:
        a0, a1, y0, y1 = span
        return all(a1 + 0.05 < b0 or b1 + 0.05 < a0 or y1 < c0 or d1 < y0 for b0, b1, c0, d1 in self.wall[wall])

    def _wall_length(self, wall: str) -> tuple[float, float]:
        w, _, d = self.size
        return (0.0, w) if wall == "back" else (1.6, d)  # side walls: only the part in view

    def against_wall(self, width: float, depth: float, height: float, tries: int = 30):
        """A floor rectangle touching a wall; returns (rect, wall) or None."""
        w, _, d = self.size
        for _ in range(tries):
            wall = str(self.rng.choice(list(self.wall)))
            lo, hi = self._wall_length(wall)
            if hi - lo < width + 0.2:
                continue
            a = float(self.rng.uniform(lo + 0.1, hi - width - 0.1))
            rect = {"back": (a, a + width, d - depth, d), "left": (0.0, depth, a, a + width),
                    "right": (w - depth, w, a, a + width)}[wall]
            if self._free(rect) and self._wall_free(wall, (a, a + width, 0.0, height)):
                self.floor.append(rect)
                self.wall[wall].append((a, a + width, 0.0, height))
                return rect, wall
        return None

    def free_standing(self, width: float, depth: float, tries: int = 30):
        w, _, d = self.size
        for _ in range(tries):
            x0 = float(self.rng.uniform(0.4, w - width - 0.4)) if w > width + 0.8 else None
            z0 = float(self.rng.uniform(1.8, d - depth - 0.4)) if d > depth + 2.2 else None
            if x0 is None or z0 is None:
                return None
            rect = (x0, x0 + width, z0, z0 + depth)
            if self._free(rect):
                self.floor.append(rect)
                return rect
        return None

    def fixture(self, name: str, width: float, y0: float, y1: float, protrusion: float, material: int | None = None):
        w, _, d = self.size
        for _ in range(30):
            wall = str(self.rng.choice(list(self.wall)))
            lo, hi = self._wall_length(wall)
            if hi - lo < width + 0.2:
                continue
            a = float(self.rng.uniform(lo + 0.1, hi - width - 0.1))
            if not self._wall_free(wall, (a, a + width, y0, y1)):
                continue
            self.wall[wall].append((a, a + width, y0, y1))
            lo3, hi3 = {"back": ((a, y0, d - protrusion), (a + width, y1, d)),
                        "left": ((0.0, y0, a), (protrusion, y1, a + width)),
                        "right": ((w - protrusion, y0, a), (w, y1, a + width))}[wall]
            self.add(name, [(lo3, hi3)], material)
            return


def _legs(x0: float, x1: float, z0: float, z1: float, top: float, leg: float) -> list:
    xs, zs = (x0 + 0.02, x1 - leg - 0.02), (z0 + 0.02, z1 - leg - 0.02)
    return [((x, 0.0, z), (x + leg, top, z + leg)) for x in xs for z in zs]


def _table(b: _Builder, rect, height: float) -> None:
    x0, x1, z0, z1 = rect
    b.add("table", [((x0, height - 0.04, z0), (x1, height, z1))] + _legs(x0, x1, z0, z1, height - 0.04, 0.05))


def _chair(b: _Builder, rect, back: int) -> None:
    x0, x1, z0, z1 = rect
    seat = float(b.rng.uniform(0.43, 0.48))
    parts = [((x0, seat - 0.05, z0), (x1, seat, z1))] + _legs(x0, x1, z0, z1, seat - 0.05, 0.04)
    top = seat + 0.45
    parts.append([((x0, seat, z0), (x0 + 0.05, top, z1)), ((x1 - 0.05, seat, z0), (x1, top, z1)),
                  ((x0, seat, z0), (x1, top, z0 + 0.05)), ((x0, seat, z1 - 0.05), (x1, top, z1))][back])
    b.add("chair", parts)


WALL_SIDE = {"left": 0, "right": 1, "back": 3}  # side of a rect touching the wall, in the order −x, +x, −z, +z


def _against(b: _Builder, name: str, rect, wall: str, top: float, back_height: float, thickness: float) -> None:
    """A box with a taller slab (headboard, sofa back) on the wall side."""
    x0, x1, z0, z1 = rect
    parts = [((x0, 0.0, z0), (x1, top, z1))]
    if back_height > top:
        slab = [((x0, 0.0, z0), (x0 + thickness, back_height, z1)), ((x1 - thickness, 0.0, z0), (x1, back_height, z1)),
                ((x0, 0.0, z0), (x1, back_height, z0 + thickness)), ((x0, 0.0, z1 - thickness), (x1, back_height, z1))]
        parts.append(slab[WALL_SIDE[wall]])
    b.add(name, parts)


def sample_room(rng: np.random.Generator, kind: str | None = None, palette_size: int = 3,
                class_affinity: float = 0.0) -> tuple[Room, Lighting, str]:
    """A furnished room of a random (or given) scene type, and its lighting. A surface
    takes its class's typical material with probability ``class_affinity``, else one of
    ``palette_size`` materials shared by the room (fewer: colour tells the classes apart
    less often)."""
    kind = kind or str(rng.choice(SCENE_TYPES))
    size = np.array([rng.uniform(3.5, 6.0), rng.uniform(2.5, 3.0), rng.uniform(4.0, 6.5)])
    palette = [int(i) for i in rng.choice(len(PALETTE), size=palette_size, replace=False)]
    b = _Builder(rng, size, palette, class_affinity)
    if kind == "bedroom":
        if (r := b.against_wall(rng.uniform(1.4, 2.0), 2.0, 1.1)):
            _against(b, "bed", r[0], r[1], rng.uniform(0.45, 0.6), rng.uniform(0.95, 1.15), 0.06)
        for _ in range(rng.integers(1, 3)):
            if (r := b.against_wall(0.45, 0.4, 0.65)):
                _against(b, "night stand", r[0], r[1], rng.uniform(0.5, 0.65), 0.0, 0.0)
    elif kind == "living_room":
        if (r := b.against_wall(rng.uniform(1.6, 2.4), 0.9, 0.9)):
            _against(b, "sofa", r[0], r[1], 0.42, rng.uniform(0.8, 0.9), 0.22)
        if (r := b.free_standing(rng.uniform(0.8, 1.2), rng.uniform(0.5, 0.7))):
            _table(b, r, rng.uniform(0.40, 0.50))
    else:
        if (r := b.free_standing(rng.uniform(1.0, 1.8), rng.uniform(0.7, 1.0))):
            _table(b, r, rng.uniform(0.72, 0.78))
            x0, x1, z0, z1 = r
            n_chairs = rng.integers(2, 5) if kind == "dining_room" else 1
            spots = [((x0 - 0.55, x0 - 0.10, z0 + 0.1, z0 + 0.55), 0), ((x1 + 0.10, x1 + 0.55, z0 + 0.1, z0 + 0.55), 1),
                     ((x0 + 0.1, x0 + 0.55, z0 - 0.55, z0 - 0.10), 2), ((x0 + 0.1, x0 + 0.55, z1 + 0.10, z1 + 0.55), 3)]
            for i in rng.permutation(4)[:n_chairs]:
                _chair(b, spots[i][0], spots[i][1])
    for _ in range(rng.integers(0 if kind == "bedroom" else 1, 3 if kind == "office" else 2)):
        if (r := b.against_wall(rng.uniform(0.6, 1.4), rng.uniform(0.4, 0.6), 2.0)):
            _against(b, "cabinet", r[0], r[1], rng.uniform(0.8, 2.0), 0.0, 0.0)
    for _ in range(rng.integers(0, 3)):
        if (r := b.free_standing(0.45, 0.45)):
            _chair(b, r, int(rng.integers(4)))
    if rng.random() < 0.7:
        b.fixture("door", rng.uniform(0.8, 0.95), 0.0, rng.uniform(2.0, 2.1), 0.03,
                  material=TYPICAL["door"] if rng.random() < class_affinity else int(rng.choice(palette[1:])))
    for _ in range(rng.integers(0, 3)):
        b.fixture("window", rng.uniform(0.8, 1.6), rng.uniform(0.8, 1.0), rng.uniform(1.8, 2.2), 0.01, material=GLASS)
    for _ in range(rng.integers(0, 3)):
        y0 = rng.uniform(1.1, 1.5)
        b.fixture("picture", rng.uniform(0.4, 1.0), y0, y0 + rng.uniform(0.3, 0.7), 0.03, material=PAINTING)
    room_raw = {c: int(rng.choice(raw_ids_of40()[c])) for c in (ID["wall"], ID["floor"], ID["ceiling"])}
    room_mat = {ID[c]: b.material(c) for c in ("wall", "floor", "ceiling")}
    if room_mat[ID["wall"]] != TYPICAL["wall"]:
        room_mat[ID["wall"]] = palette[0]  # a door from the palette differs from the walls'
    return Room(size, room_mat, room_raw, b.boxes), sample_lighting(rng, size), kind


def sample_lighting(rng: np.random.Generator, size: np.ndarray) -> Lighting:
    el, az = rng.uniform(np.radians(20), np.radians(75)), rng.uniform(0, 2 * np.pi)
    bands = []
    for _ in range(rng.integers(0, 4)):
        n = rng.normal(size=3) * np.array([1.0, 0.4, 1.0])
        n /= np.linalg.norm(n)
        centre = float(n @ (rng.random(3) * size))
        bands.append((n, centre, float(rng.uniform(0.15, 0.6)), float(rng.uniform(0.3, 0.65))))
    return Lighting(ambient=float(rng.uniform(0.35, 0.65)),
                    light=np.array([np.cos(el) * np.cos(az), np.sin(el), np.cos(el) * np.sin(az)]),
                    intensity=float(rng.uniform(0.3, 0.8)), bands=bands, exposure=float(rng.uniform(0.65, 1.35)),
                    white=1.0 + rng.uniform(-0.12, 0.12, size=3))


DAYLIGHT_K, LAMP_K = (5000.0, 6500.0), (2700.0, 3500.0)  # colour temperatures: sky and sun; tungsten and warm LED
PAN_CHANCE, PAN_DEG_S = 0.05, (15.0, 60.0)  # share of frames taken during a quick pan, and its angular speed


@dataclass
class RoomLights:
    """The lights of one room in the ``illumination`` appearance (constant over its frames)."""

    light: Lighting  # the room's own draw: daylight direction and strength, ambient share, bands
    daylight: np.ndarray  # (3,) colour of the light from the windows
    lamp: DirectLight  # a ceiling or floor lamp: fixed direction, strength and colour
    band_distance: np.ndarray  # metres from each shadow band's occluder to the surfaces it darkens


def sample_room_lights(rng: np.random.Generator, light: Lighting) -> RoomLights:
    """Add a warm lamp to the room's daylight (``light``) and fix the lights' colours."""
    el, az = rng.uniform(np.radians(45), np.radians(85)), rng.uniform(0, 2 * np.pi)
    lamp = DirectLight(np.array([np.cos(el) * np.cos(az), np.sin(el), np.cos(el) * np.sin(az)]),
                       cct_rgb(rng.uniform(*LAMP_K)) * rng.uniform(0.1, 0.5))
    return RoomLights(light, cct_rgb(rng.uniform(*DAYLIGHT_K)), lamp,
                      rng.uniform(1.0, 3.0, size=len(light.bands)))


def _turn(v: np.ndarray, d_azimuth: float, d_elevation: float) -> np.ndarray:
    el = np.clip(np.arcsin(v[1]) + d_elevation, np.radians(10), np.radians(85))
    az = np.arctan2(v[2], v[0]) + d_azimuth
    return np.array([np.cos(el) * np.cos(az), np.sin(el), np.cos(el) * np.sin(az)])


def sample_frame_light(rng: np.random.Generator, room: RoomLights) -> FrameLight:
    """One frame's lights. The sun's direct beam changes strength (clouds) and direction
    (its course over a recording session), and its shadow bands move with it; the lamp
    stays. Indirect light is a share (``Lighting.ambient``) of the lamp and the clear-sky
    daylight: a cloud dims the beam, but the skylight it scatters keeps the room lit.
    A few frames are taken during a quick pan (motion blur)."""
    base = room.light
    cloud = rng.uniform(0.2, 1.0)  # share of the direct sunlight that a passing cloud lets through
    d_az, d_el = np.radians(rng.uniform(-10, 10)), np.radians(rng.uniform(-5, 5))  # ~40 min of the sun's course
    direction = _turn(base.light, d_az, d_el)
    # an occluder `dist` metres up the beam from its shadow: the shadow moves by dist × (old − new direction)
    bands = [(normal, centre + dist * float(normal @ (base.light - direction)), half, dark)
             for (normal, centre, half, dark), dist in zip(base.bands, room.band_distance)]
    daylight = DirectLight(direction, room.daylight * base.intensity * cloud, bands)
    ambient = base.ambient * (room.daylight * base.intensity + room.lamp.radiance)  # skylight stays under a cloud
    pan = float(rng.uniform(*PAN_DEG_S)) if rng.random() < PAN_CHANCE else 0.0
    return FrameLight(ambient, [daylight, room.lamp], pan)


def sample_camera(rng: np.random.Generator, size: np.ndarray) -> Camera:
    w, _, _ = size
    pos = np.array([rng.uniform(0.3 * w, 0.7 * w), rng.uniform(1.1, 1.7), rng.uniform(0.3, 1.2)])
    return Camera(pos, yaw=float(rng.uniform(-0.5, 0.5)), pitch=float(rng.uniform(-0.5, -0.1)),
                  roll=float(rng.uniform(-0.05, 0.05)))


def camera_path(rng: np.random.Generator, size: np.ndarray, n: int) -> list[Camera]:
    """``n`` poses on a smooth pan-and-walk from one random pose to another."""
    a, b = sample_camera(rng, size), sample_camera(rng, size)
    out = []
    for s in np.linspace(0.0, 1.0, n):
        out.append(Camera((1 - s) * a.position + s * b.position, (1 - s) * a.yaw + s * b.yaw,
                          (1 - s) * a.pitch + s * b.pitch + 0.03 * np.sin(6 * s), (1 - s) * a.roll + s * b.roll))
    return out
