"""Ray casting of box-world rooms for the synthetic NYU default (internal).

World coordinates in metres: x across the room, y up (floor at 0), z away from the
entrance wall. A room is the inside of one box; furniture and wall fixtures are
axis-aligned boxes. Rays leave a pinhole camera with the NYU intrinsics, so the hit
distance along a ray with unit camera-z component *is* the depth Z of the Kinect.

Two shading models: :func:`shade` (the ``material`` appearance: one light per room,
world-fixed shadow bands) and :func:`shade_lit` (the ``illumination`` appearance: a
:class:`FrameLight` per frame with distant lights, shadow rays towards them and
highlights on glossy finishes).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mkepipe.experiments.nyu.hha import Intrinsics

FLOOR, WALL, CEILING = 2, 1, 22  # 40-class ids of the room's own faces


@dataclass
class Box:
    lo: np.ndarray
    hi: np.ndarray
    label40: int
    raw_id: int  # the 894-space id written to the .mat
    material: int


@dataclass
class Room:
    size: np.ndarray  # (width x, height y, depth z)
    materials: dict[int, int]  # room face class → material
    raw_ids: dict[int, int]
    boxes: list[Box] = field(default_factory=list)


@dataclass
class Camera:
    position: np.ndarray
    yaw: float
    pitch: float  # negative looks down
    roll: float = 0.0

    def rotation(self) -> np.ndarray:
        """World-from-camera rotation; columns are the camera's right, down, forward axes."""
        cy, sy, cp, sp = np.cos(self.yaw), np.sin(self.yaw), np.cos(self.pitch), np.sin(self.pitch)
        fwd = np.array([sy * cp, sp, cy * cp])
        right = np.array([cy, 0.0, -sy])
        down = np.cross(fwd, right)
        down = down if down[1] < 0 else -down
        cr, sr = np.cos(self.roll), np.sin(self.roll)
        return np.stack([cr * right + sr * down, -sr * right + cr * down, fwd], axis=1)


@dataclass
class Hits:
    """Per-pixel results of casting every ray into a room."""

    depth: np.ndarray  # (H, W) float32 metres along the optical axis
    surface: np.ndarray  # (H, W) int16: 0..5 room faces (2·axis + inward-normal sign > 0), 6+ boxes
    normal: np.ndarray  # (H, W, 3) float32 world unit normal, facing the camera
    point: np.ndarray  # (H, W, 3) float32 world hit point


ROOM_FACES = (WALL, WALL, CEILING, FLOOR, WALL, WALL)  # surface index 2·axis + (inward sign > 0)


def surface_table(room: Room, what: str) -> np.ndarray:
    """``label40``, ``raw_id`` or ``material`` of every surface index (room faces, then boxes)."""
    if what == "label40":
        faces = list(ROOM_FACES)
    else:
        faces = [(room.materials if what == "material" else room.raw_ids)[c] for c in ROOM_FACES]
    return np.asarray(faces + [getattr(b, what) for b in room.boxes])


def _slabs(origin: np.ndarray, inv: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t1 = (lo[:, None, None] - origin[:, None, None]) * inv
    t2 = (hi[:, None, None] - origin[:, None, None]) * inv
    return np.minimum(t1, t2), np.maximum(t1, t2)


def _screen_rect(box: Box, cam_pos: np.ndarray, rot: np.ndarray, k: Intrinsics,
                 shape: tuple[int, int]) -> tuple[slice, slice]:
    """Pixel rectangle that holds the box's projection (the whole image if it straddles
    the camera plane), so small boxes cost little."""
    corners = np.array([[x, y, z] for x in (box.lo[0], box.hi[0]) for y in (box.lo[1], box.hi[1])
                        for z in (box.lo[2], box.hi[2])])
    p = (corners - cam_pos) @ rot
    h, w = shape
    if (p[:, 2] < 0.05).any():
        return slice(0, h), slice(0, w)
    u = k.fx * p[:, 0] / p[:, 2] + k.cx - 1.0
    v = k.fy * p[:, 1] / p[:, 2] + k.cy - 1.0
    c0, c1 = int(max(np.floor(u.min()) - 1, 0)), int(min(np.ceil(u.max()) + 2, w))
    r0, r1 = int(max(np.floor(v.min()) - 1, 0)), int(min(np.ceil(v.max()) + 2, h))
    return slice(r0, max(r0, r1)), slice(c0, max(c0, c1))


def cast(room: Room, cam: Camera, k: Intrinsics, shape: tuple[int, int]) -> Hits:
    """Nearest surface along every pixel's ray."""
    h, w = shape
    rot = cam.rotation()
    xn = (np.arange(1, w + 1, dtype=np.float32) - k.cx) / k.fx
    yn = (np.arange(1, h + 1, dtype=np.float32) - k.cy) / k.fy
    d = (rot[:, 0, None, None] * xn[None, None, :] + rot[:, 1, None, None] * yn[None, :, None]
         + rot[:, 2, None, None]).astype(np.float32)  # (3, H, W), camera-z component 1
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = 1.0 / d
        o = cam.position.astype(np.float32)
        _, t_far = _slabs(o, inv, np.zeros(3, np.float32), room.size.astype(np.float32))
        axis = np.argmin(t_far, axis=0)
        depth = np.take_along_axis(t_far, axis[None], 0)[0]
        sign = -np.sign(np.take_along_axis(d, axis[None], 0)[0])  # inward normal
        surface = (2 * axis + (sign > 0)).astype(np.int16)
        for i, box in enumerate(room.boxes):
            rs, cs = _screen_rect(box, cam.position, rot, k, shape)
            if rs.start >= rs.stop or cs.start >= cs.stop:
                continue
            dd = d[:, rs, cs]
            t_near, t_far = _slabs(o, inv[:, rs, cs], box.lo.astype(np.float32), box.hi.astype(np.float32))
            box_axis = np.argmax(t_near, axis=0)
            near = np.take_along_axis(t_near, box_axis[None], 0)[0]
            hit = (near <= t_far.min(axis=0)) & (near > 0) & (near < depth[rs, cs])
            if not hit.any():
                continue
            depth[rs, cs][hit] = near[hit]
            surface[rs, cs][hit] = 6 + i
            axis[rs, cs][hit] = box_axis[hit]
            sign[rs, cs][hit] = -np.sign(np.take_along_axis(dd, box_axis[None], 0)[0])[hit]
    normal = np.zeros((h, w, 3), np.float32)
    np.put_along_axis(normal, axis[:, :, None], sign[:, :, None].astype(np.float32), axis=2)
    point = o[None, None, :] + depth[:, :, None] * np.moveaxis(d, 0, 2)
    return Hits(depth.astype(np.float32), surface, normal, point.astype(np.float32))


@dataclass
class Material:
    colour: tuple[float, float, float]
    texture: str  # plain | wood | tiles | fabric | stripes | painting
    emissive: float = 0.0  # share of the brightness that ignores the lighting (windows)
    shininess: float = 0.0  # Blinn-Phong exponent of a glossy finish (varnish, glaze); 0 = matte


@dataclass
class Lighting:
    ambient: float
    light: np.ndarray  # unit vector towards the light
    intensity: float
    bands: list[tuple[np.ndarray, float, float, float]]  # (unit normal, centre, half width, darkness)
    exposure: float
    white: np.ndarray  # per-channel gain


@dataclass
class DirectLight:
    """A distant light in one frame: daylight through a window, or a lamp across the room."""

    direction: np.ndarray  # unit vector towards the light
    radiance: np.ndarray  # (3,) colour × strength, in the units of ``Lighting.intensity``
    bands: list[tuple[np.ndarray, float, float, float]] = field(default_factory=list)  # occluders outside the boxes


@dataclass
class FrameLight:
    """Everything of the ``illumination`` appearance that changes from frame to frame."""

    ambient: np.ndarray  # (3,) indirect light: the direct lights bounced around the room
    lights: list[DirectLight]
    pan: float = 0.0  # camera pan speed during the exposure in degrees per second (motion blur)


def cct_rgb(kelvin: float) -> np.ndarray:
    """Linear sRGB of a Planckian light of colour temperature ``kelvin`` (1667–25000 K), luminance 1.

    Chromaticity from Kang et al. (2002)'s cubic fits of the Planckian locus, then XYZ → linear sRGB.
    """
    t = float(kelvin)
    if t <= 4000:
        x = -0.2661239e9 / t ** 3 - 0.2343589e6 / t ** 2 + 0.8776956e3 / t + 0.179910
    else:
        x = -3.0258469e9 / t ** 3 + 2.1070379e6 / t ** 2 + 0.2226347e3 / t + 0.240390
    if t <= 2222:
        y = -1.1063814 * x ** 3 - 1.34811020 * x ** 2 + 2.18555832 * x - 0.20219683
    elif t <= 4000:
        y = -0.9549476 * x ** 3 - 1.37418593 * x ** 2 + 2.09137015 * x - 0.16748867
    else:
        y = 3.0817580 * x ** 3 - 5.87338670 * x ** 2 + 3.75112997 * x - 0.37001483
    xyz = np.array([x / y, 1.0, (1.0 - x - y) / y])
    srgb = np.array([[3.2406, -1.5372, -0.4986], [-0.9689, 1.8758, 0.0415], [0.0557, -0.2040, 1.0570]])
    return np.clip(srgb @ xyz, 0.0, None)


def smooth_noise(rng: np.random.Generator, size: int = 256, blur: int = 4) -> np.ndarray:
    """A tileable smooth noise texture in [0, 1] (box-blurred white noise)."""
    tex = rng.random((size, size))
    for axis in (0, 1):
        tex = sum(np.roll(tex, s, axis=axis) for s in range(-blur, blur + 1)) / (2 * blur + 1)
    tex -= tex.min()
    return (tex / tex.max()).astype(np.float32)


def _texture(kind: str, s: np.ndarray, t: np.ndarray, noise: np.ndarray) -> np.ndarray:
    n = noise.shape[0]

    def sample(scale: float, offset: int = 0) -> np.ndarray:
        return noise[(s / scale).astype(np.int64) % n, (t / scale + offset).astype(np.int64) % n]

    if kind == "plain":
        return np.ones_like(s)[..., None]
    if kind == "wood":
        return (0.85 + 0.15 * np.sin(2 * np.pi * (s / 0.05 + 3.0 * sample(0.03))))[..., None]
    if kind == "tiles":
        grout = (np.mod(s, 0.4) < 0.02) | (np.mod(t, 0.4) < 0.02)
        return np.where(grout, 0.6, 0.95 + 0.1 * sample(0.02))[..., None]
    if kind == "fabric":
        return (0.75 + 0.4 * sample(0.006))[..., None]
    if kind == "stripes":
        return np.where(np.mod(s, 0.24) < 0.12, 1.0, 0.8)[..., None]
    if kind == "painting":  # colourful, high-frequency content that only RGB shows
        return np.stack([0.2 + 1.2 * sample(0.004, o) for o in (0, 85, 170)], axis=-1)
    raise ValueError(f"unknown texture {kind!r}")


def _dot3(a: np.ndarray, v: np.ndarray) -> np.ndarray:
    return a[..., 0] * np.float32(v[0]) + a[..., 1] * np.float32(v[1]) + a[..., 2] * np.float32(v[2])


def _face_coords(hits: Hits) -> tuple[np.ndarray, np.ndarray]:
    """In-plane coordinates (s, t) of every hit point on its axis-aligned face."""
    axis = np.abs(hits.normal).argmax(axis=2)
    p = hits.point
    return np.choose(axis, [p[..., 2], p[..., 0], p[..., 0]]), np.choose(axis, [p[..., 1], p[..., 2], p[..., 1]])


def _band_shadow(p: np.ndarray, bands: list[tuple[np.ndarray, float, float, float]]) -> np.ndarray:
    """Share of a light left by soft shadow bands (a plane's normal, centre, half width, darkness)."""
    shadow = np.ones(p.shape[:-1], np.float32)
    for normal, centre, half, dark in bands:
        dist = np.abs(_dot3(p, normal) - centre)
        shadow *= 1.0 - dark * np.clip((half + 0.08 - dist) / 0.16, 0.0, 1.0)
    return shadow


def shade(hits: Hits, room: Room, materials: list[Material], light: Lighting, noise: np.ndarray,
          gains: np.ndarray) -> np.ndarray:
    """Linear RGB in [0, ~1.5]: material colour × texture × (ambient + diffuse) × shadow bands.

    ``gains`` holds one brightness factor per surface index (small per-object jitter).
    """
    h, w = hits.depth.shape
    material = surface_table(room, "material")[hits.surface]
    s, t = _face_coords(hits)
    rgb = np.zeros((h, w, 3), np.float32)
    diffuse = light.ambient + light.intensity * np.clip(_dot3(hits.normal, light.light), 0, None)
    shadow = _band_shadow(hits.point, light.bands)
    for m in np.unique(material):
        mask = material == m
        mat = materials[m]
        tex = _texture(mat.texture, s[mask], t[mask], noise)
        lit = (1 - mat.emissive) * diffuse[mask] * shadow[mask] + mat.emissive
        rgb[mask] = np.asarray(mat.colour, np.float32) * tex * lit[:, None]
    rgb *= gains[hits.surface][:, :, None]
    return rgb * light.exposure * light.white.astype(np.float32)


def _box_corners(box: Box) -> np.ndarray:
    return np.array([[x, y, z] for x in (box.lo[0], box.hi[0]) for y in (box.lo[1], box.hi[1])
                     for z in (box.lo[2], box.hi[2])], np.float32)


def light_visibility(room: Room, points: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """(N,) bool: whether the shadow ray from each of the (3, N) ``points`` (nudged off
    their surfaces) towards a distant light misses every box. Room faces do not
    occlude: the light is inside the room, or enters through them.

    Only the points whose projection along the light falls inside a box's projected
    bounding rectangle are ray-tested against that box, so a frame costs little more
    than a few passes over its pixels.
    """
    direction = np.asarray(direction, np.float32)
    u = np.cross(direction, [0.0, 1.0, 0.0] if abs(direction[1]) < 0.9 else [1.0, 0.0, 0.0]).astype(np.float32)
    u /= np.linalg.norm(u)
    v = np.cross(direction, u).astype(np.float32)
    pu, pv = u @ points, v @ points  # coordinates on a plane across the light
    lit = np.ones(points.shape[1], bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = np.float32(1.0) / direction
        for box in room.boxes:
            cu, cv = _box_corners(box) @ u, _box_corners(box) @ v
            idx = np.flatnonzero((pu >= cu.min()) & (pu <= cu.max()) & (pv >= cv.min()) & (pv <= cv.max()) & lit)
            if not idx.size:
                continue
            near, far = np.full(idx.size, -np.inf, np.float32), np.full(idx.size, np.inf, np.float32)
            for a in range(3):
                q = points[a, idx]
                t1, t2 = (np.float32(box.lo[a]) - q) * inv[a], (np.float32(box.hi[a]) - q) * inv[a]
                near, far = np.maximum(near, np.minimum(t1, t2)), np.minimum(far, np.maximum(t1, t2))
            lit[idx[(near <= far) & (far > 0)]] = False
    return lit


F0_DIELECTRIC = 0.04  # normal-incidence reflectance of varnish, glaze, glass (refractive index ~1.5)


def _unit_rows(a: np.ndarray) -> np.ndarray:
    return a / np.sqrt(np.einsum("ij,ij->i", a, a))[:, None]


def shade_lit(hits: Hits, room: Room, materials: list[Material], frame: FrameLight, noise: np.ndarray,
              gains: np.ndarray, eye: np.ndarray) -> np.ndarray:
    """Linear RGB of the ``illumination`` appearance, seen from ``eye`` (the camera centre).

    Diffuse: albedo × (ambient + Σ lights' radiance × cos × visibility), visibility from
    shadow rays and the lights' shadow bands. Glossy finishes add each light's
    reflection in the light's own colour: normalised Blinn-Phong, (s + 8)/8 · (n·h)^s,
    times Schlick's Fresnel term with F0 = 0.04 (relative to a white Lambertian
    surface under the same light). Windows keep their own light, as in :func:`shade`.
    """
    h, w = hits.depth.shape
    material = surface_table(room, "material")[hits.surface].ravel()
    s, t = (c.ravel() for c in _face_coords(hits))
    point, normal = hits.point.reshape(-1, 3), hits.normal.reshape(-1, 3)
    shininess = np.array([m.shininess for m in materials], np.float32)[material]
    glossy = np.flatnonzero(shininess > 0)
    view = _unit_rows(np.asarray(eye, np.float32) - point[glossy])
    irradiance = np.tile(np.asarray(frame.ambient, np.float32), (h * w, 1))
    highlight = np.zeros((h * w, 3), np.float32)
    nudged = np.ascontiguousarray((point + np.float32(2e-3) * normal).T)  # off the surface: no self-shadowing
    for light in frame.lights:
        direction = np.asarray(light.direction, np.float32)
        radiance = np.asarray(light.radiance, np.float32)
        reach = np.clip(normal @ direction, 0, None)
        facing = np.flatnonzero(reach > 0)
        reach[facing] *= light_visibility(room, nudged[:, facing], direction)
        reach *= _band_shadow(point, light.bands)
        irradiance += reach[:, None] * radiance
        half = _unit_rows(view + direction)
        nh = np.clip(np.einsum("ij,ij->i", normal[glossy], half), 0, 1)
        fresnel = F0_DIELECTRIC + (1 - F0_DIELECTRIC) * (1 - np.clip(np.einsum("ij,ij->i", view, half), 0, 1)) ** 5
        s_g = shininess[glossy]
        highlight[glossy] += ((s_g + 8) / 8 * nh ** s_g * fresnel * reach[glossy])[:, None] * radiance
    rgb = np.zeros((h * w, 3), np.float32)
    for m in np.unique(material):
        mask = material == m
        mat = materials[m]
        tex = _texture(mat.texture, s[mask], t[mask], noise)
        lit = (1 - mat.emissive) * irradiance[mask] + mat.emissive
        rgb[mask] = np.asarray(mat.colour, np.float32) * tex * lit
    return (rgb * gains[hits.surface.ravel()][:, None] + highlight).reshape(h, w, 3)
