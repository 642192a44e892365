"""The product types a synthetic retail world can stock.

Each type names its option axes (every variant picks one value per axis, like tau2's variant
``options``) and a realistic retail price band in dollars. The generator picks ``products`` of
these types and 5-20 option combinations of each.
"""

from __future__ import annotations

import msgspec

__all__ = ("CATALOGUE", "ProductType")


class ProductType(msgspec.Struct, frozen=True):
    """A kind of product: its name, its option axes and the price band of its variants."""

    name: str
    axes: dict[str, tuple[str, ...]]
    low: float
    high: float


CATALOGUE = (
    ProductType(
        "Rain Jacket",
        {
            "size": ("XS", "S", "M", "L", "XL", "XXL"),
            "color": ("olive", "navy", "yellow", "black"),
            "hood": ("packable", "fixed"),
        },
        79.0,
        189.0,
    ),
    ProductType(
        "Hoodie",
        {
            "size": ("XS", "S", "M", "L", "XL", "XXL"),
            "color": ("heather grey", "black", "forest green", "maroon"),
            "fit": ("regular", "oversized"),
        },
        39.0,
        79.0,
    ),
    ProductType(
        "Denim Jeans",
        {
            "waist": ("28", "30", "32", "34", "36"),
            "fit": ("slim", "straight", "relaxed"),
            "wash": ("light", "dark", "black"),
        },
        49.0,
        119.0,
    ),
    ProductType(
        "Winter Gloves",
        {"size": ("S", "M", "L"), "material": ("wool", "leather", "fleece"), "color": ("black", "brown", "charcoal")},
        19.0,
        69.0,
    ),
    ProductType(
        "Wool Socks",
        {"size": ("S", "M", "L"), "pack": ("3-pack", "6-pack"), "weight": ("light", "midweight", "heavy")},
        18.0,
        44.0,
    ),
    ProductType(
        "Baseball Cap",
        {"color": ("navy", "khaki", "black", "red", "white"), "closure": ("snapback", "strapback", "fitted")},
        19.0,
        39.0,
    ),
    ProductType(
        "Trail Shoes",
        {
            "size": ("6", "7", "8", "9", "10", "11", "12"),
            "color": ("slate", "orange", "black"),
            "width": ("regular", "wide"),
        },
        99.0,
        169.0,
    ),
    ProductType(
        "Slippers",
        {
            "size": ("6", "7", "8", "9", "10", "11", "12"),
            "lining": ("shearling", "fleece"),
            "color": ("grey", "tan", "navy"),
        },
        24.0,
        89.0,
    ),
    ProductType(
        "Duffel Bag",
        {
            "capacity": ("40L", "60L", "90L"),
            "color": ("black", "olive", "navy", "sand"),
            "material": ("canvas", "ripstop nylon"),
        },
        59.0,
        149.0,
    ),
    ProductType(
        "Messenger Bag",
        {
            "material": ("waxed canvas", "leather", "nylon"),
            "color": ("brown", "black", "grey"),
            "laptop sleeve": ("13-inch", "15-inch"),
        },
        69.0,
        219.0,
    ),
    ProductType(
        "Wallet",
        {
            "material": ("leather", "canvas", "carbon fiber"),
            "color": ("black", "brown", "tan"),
            "style": ("bifold", "trifold", "card holder"),
        },
        19.0,
        89.0,
    ),
    ProductType(
        "Umbrella",
        {
            "canopy": ("42-inch", "54-inch", "62-inch"),
            "color": ("black", "navy", "red", "plaid"),
            "opening": ("manual", "auto open"),
        },
        18.0,
        59.0,
    ),
    ProductType(
        "Computer Monitor",
        {
            "screen size": ("24-inch", "27-inch", "32-inch"),
            "resolution": ("1080p", "1440p", "4K"),
            "refresh rate": ("60Hz", "144Hz"),
        },
        149.0,
        699.0,
    ),
    ProductType(
        "Webcam",
        {"resolution": ("720p", "1080p", "4K"), "microphone": ("mono", "stereo"), "mount": ("clip", "tripod")},
        39.0,
        199.0,
    ),
    ProductType(
        "USB Hub",
        {"ports": ("4", "7", "10"), "connector": ("USB-A", "USB-C"), "power": ("bus powered", "self powered")},
        19.0,
        79.0,
    ),
    ProductType(
        "External SSD",
        {
            "capacity": ("500GB", "1TB", "2TB", "4TB"),
            "interface": ("USB 3.2", "Thunderbolt"),
            "color": ("black", "silver", "blue"),
        },
        69.0,
        399.0,
    ),
    ProductType(
        "Wireless Router",
        {
            "standard": ("Wi-Fi 5", "Wi-Fi 6", "Wi-Fi 6E"),
            "bands": ("dual-band", "tri-band"),
            "coverage": ("2000 sq ft", "3500 sq ft"),
        },
        79.0,
        349.0,
    ),
    ProductType(
        "Smart Plug",
        {
            "pack": ("1-pack", "2-pack", "4-pack"),
            "assistant": ("Alexa", "Google Home", "HomeKit"),
            "energy monitoring": ("yes", "no"),
        },
        14.0,
        59.0,
    ),
    ProductType(
        "Soundbar",
        {"channels": ("2.0", "2.1", "5.1"), "subwoofer": ("built-in", "wireless"), "color": ("black", "white")},
        129.0,
        599.0,
    ),
    ProductType(
        "Turntable",
        {"drive": ("belt", "direct"), "speeds": ("33/45", "33/45/78"), "finish": ("walnut", "black", "white")},
        149.0,
        499.0,
    ),
    ProductType(
        "Camera Drone",
        {"camera": ("2.7K", "4K", "5.1K"), "range": ("4 km", "10 km"), "color": ("grey", "white")},
        299.0,
        1299.0,
    ),
    ProductType(
        "Home Projector",
        {
            "resolution": ("1080p", "4K"),
            "brightness": ("2000 lumens", "3000 lumens", "4000 lumens"),
            "throw": ("standard", "short throw"),
        },
        399.0,
        1899.0,
    ),
    ProductType(
        "Graphics Tablet",
        {
            "active area": ("small", "medium", "large"),
            "connectivity": ("wired", "Bluetooth"),
            "screen": ("none", "display"),
        },
        59.0,
        899.0,
    ),
    ProductType(
        "Stand Mixer",
        {
            "capacity": ("4.5 qt", "5 qt", "6 qt"),
            "color": ("red", "silver", "matte black", "cream"),
            "motor": ("325W", "500W"),
        },
        249.0,
        549.0,
    ),
    ProductType(
        "Blender",
        {"jar": ("48 oz", "64 oz", "72 oz"), "jar material": ("glass", "tritan"), "power": ("700W", "1200W", "1500W")},
        59.0,
        449.0,
    ),
    ProductType(
        "Air Fryer",
        {
            "capacity": ("3 qt", "5 qt", "8 qt"),
            "color": ("black", "white", "stainless"),
            "controls": ("dial", "touchscreen"),
        },
        69.0,
        199.0,
    ),
    ProductType(
        "Rice Cooker",
        {
            "capacity": ("3 cup", "5.5 cup", "10 cup"),
            "heating": ("conventional", "induction"),
            "inner pot": ("nonstick", "stainless"),
        },
        39.0,
        329.0,
    ),
    ProductType(
        "Toaster",
        {
            "slots": ("2-slice", "4-slice"),
            "color": ("chrome", "black", "mint", "red"),
            "slot width": ("standard", "extra wide"),
        },
        29.0,
        149.0,
    ),
    ProductType(
        "Cookware Set",
        {
            "pieces": ("5-piece", "10-piece", "12-piece"),
            "material": ("stainless steel", "cast iron", "ceramic nonstick"),
            "induction ready": ("yes", "no"),
        },
        129.0,
        599.0,
    ),
    ProductType(
        "Chef Knife",
        {
            "blade length": ("6-inch", "8-inch", "10-inch"),
            "steel": ("German", "Japanese VG-10", "carbon"),
            "handle": ("wood", "composite"),
        },
        39.0,
        229.0,
    ),
    ProductType(
        "Dinnerware Set",
        {
            "pieces": ("12-piece", "16-piece", "32-piece"),
            "material": ("stoneware", "porcelain", "melamine"),
            "color": ("white", "speckled grey", "sage"),
        },
        49.0,
        249.0,
    ),
    ProductType(
        "Food Storage Set",
        {
            "pieces": ("10-piece", "20-piece", "32-piece"),
            "material": ("glass", "BPA-free plastic"),
            "lid": ("snap lock", "bamboo"),
        },
        24.0,
        89.0,
    ),
    ProductType(
        "Standing Desk",
        {
            "width": ("48-inch", "55-inch", "63-inch"),
            "frame": ("black", "white", "grey"),
            "top": ("walnut", "oak", "white laminate"),
        },
        299.0,
        899.0,
    ),
    ProductType(
        "Floor Lamp",
        {
            "finish": ("brass", "matte black", "nickel"),
            "shade": ("linen", "glass", "metal"),
            "bulb": ("LED included", "no bulb"),
        },
        59.0,
        249.0,
    ),
    ProductType(
        "Area Rug",
        {
            "size": ("4x6 ft", "5x8 ft", "8x10 ft"),
            "pattern": ("solid", "geometric", "vintage"),
            "color": ("ivory", "navy", "rust"),
        },
        79.0,
        549.0,
    ),
    ProductType(
        "Bed Sheet Set",
        {
            "size": ("twin", "full", "queen", "king"),
            "material": ("cotton percale", "sateen", "linen"),
            "color": ("white", "sand", "slate"),
        },
        49.0,
        249.0,
    ),
    ProductType(
        "Bed Pillow",
        {
            "size": ("standard", "queen", "king"),
            "fill": ("down", "memory foam", "polyester"),
            "firmness": ("soft", "medium", "firm"),
        },
        24.0,
        129.0,
    ),
    ProductType(
        "Throw Blanket",
        {
            "material": ("cotton knit", "faux fur", "wool"),
            "color": ("cream", "charcoal", "blush", "mustard"),
            "size": ("50x60 in", "60x80 in"),
        },
        29.0,
        119.0,
    ),
    ProductType(
        "Blackout Curtains",
        {
            "length": ("63 in", "84 in", "96 in"),
            "color": ("grey", "navy", "ivory", "black"),
            "panels": ("1 panel", "2 panels"),
        },
        24.0,
        89.0,
    ),
    ProductType(
        "Humidifier",
        {"tank": ("2L", "4L", "6L"), "mist": ("cool", "warm", "cool and warm"), "color": ("white", "black")},
        34.0,
        179.0,
    ),
    ProductType(
        "Ceiling Fan",
        {
            "blade span": ("44-inch", "52-inch", "60-inch"),
            "finish": ("brushed nickel", "bronze", "white"),
            "light kit": ("yes", "no"),
        },
        99.0,
        449.0,
    ),
    ProductType(
        "Camping Tent",
        {
            "capacity": ("2-person", "4-person", "6-person"),
            "season": ("3-season", "4-season"),
            "color": ("green", "orange", "grey"),
        },
        89.0,
        549.0,
    ),
    ProductType(
        "Sleeping Bag",
        {"rating": ("0F", "20F", "40F"), "shape": ("mummy", "rectangular"), "fill": ("down", "synthetic")},
        49.0,
        349.0,
    ),
    ProductType(
        "Camping Stove",
        {"burners": ("1", "2"), "fuel": ("propane", "butane", "multi-fuel"), "ignition": ("piezo", "manual")},
        39.0,
        179.0,
    ),
    ProductType(
        "Kayak",
        {"length": ("9 ft", "10 ft", "12 ft"), "seats": ("1", "2"), "color": ("red", "lime", "sky blue", "camo")},
        349.0,
        999.0,
    ),
    ProductType(
        "Tennis Racket",
        {
            "head size": ("98 sq in", "100 sq in", "105 sq in"),
            "weight": ("280g", "300g", "315g"),
            "grip": ("4 1/8", "4 1/4", "4 3/8"),
        },
        89.0,
        259.0,
    ),
    ProductType(
        "Resistance Bands",
        {
            "set": ("light", "medium", "heavy", "full set"),
            "type": ("loop", "tube with handles"),
            "material": ("latex", "fabric"),
        },
        14.0,
        49.0,
    ),
    ProductType(
        "Treadmill",
        {"max speed": ("8 mph", "10 mph", "12 mph"), "incline": ("manual", "motorized"), "folding": ("yes", "no")},
        599.0,
        2199.0,
    ),
    ProductType(
        "Rowing Machine",
        {"resistance": ("air", "magnetic", "water"), "monitor": ("basic", "smart"), "frame": ("aluminum", "wood")},
        299.0,
        1399.0,
    ),
    ProductType(
        "Basketball",
        {
            "size": ("5", "6", "7"),
            "material": ("rubber", "composite leather", "leather"),
            "use": ("indoor", "indoor/outdoor"),
        },
        19.0,
        79.0,
    ),
    ProductType(
        "Board Game",
        {
            "theme": ("fantasy", "trains", "space", "farming", "mystery"),
            "players": ("2-4", "2-6"),
            "edition": ("standard", "deluxe"),
        },
        24.0,
        89.0,
    ),
    ProductType(
        "Building Blocks Set",
        {
            "pieces": ("300", "800", "1500", "3000"),
            "theme": ("city", "castle", "spaceship"),
            "age": ("6+", "9+", "12+"),
        },
        29.0,
        249.0,
    ),
    ProductType(
        "Electric Scooter",
        {
            "range": ("12 mi", "20 mi", "30 mi"),
            "wheel size": ("8.5-inch", "10-inch"),
            "color": ("black", "white", "grey"),
        },
        299.0,
        899.0,
    ),
    ProductType(
        "Stroller",
        {
            "type": ("full-size", "jogging", "travel"),
            "color": ("black", "grey", "navy"),
            "fold": ("one-hand", "two-hand"),
        },
        149.0,
        699.0,
    ),
    ProductType(
        "Aquarium Kit",
        {"capacity": ("10 gal", "20 gal", "40 gal"), "shape": ("rectangle", "bow front"), "lighting": ("LED", "none")},
        49.0,
        349.0,
    ),
    ProductType(
        "Bird Feeder",
        {
            "capacity": ("1 lb", "2 lb", "4 lb"),
            "material": ("cedar", "metal", "recycled plastic"),
            "mount": ("hanging", "pole", "window"),
        },
        19.0,
        79.0,
    ),
    ProductType(
        "Cat Tree",
        {"height": ("36 in", "52 in", "70 in"), "color": ("beige", "grey", "dark brown"), "hammock": ("yes", "no")},
        49.0,
        229.0,
    ),
    ProductType(
        "Dog Leash",
        {
            "length": ("4 ft", "6 ft", "16 ft retractable"),
            "material": ("nylon", "leather", "rope"),
            "color": ("black", "red", "blue", "pink"),
        },
        12.0,
        59.0,
    ),
    ProductType(
        "Planter",
        {
            "diameter": ("6-inch", "10-inch", "14-inch"),
            "material": ("terracotta", "ceramic", "fiberglass"),
            "color": ("white", "black", "natural"),
        },
        14.0,
        99.0,
    ),
    ProductType(
        "Lawn Mower",
        {
            "power": ("gas", "electric corded", "battery"),
            "deck": ("16-inch", "21-inch"),
            "drive": ("push", "self-propelled"),
        },
        179.0,
        699.0,
    ),
    ProductType(
        "Cordless Drill",
        {"voltage": ("12V", "18V", "20V"), "battery": ("1 battery", "2 batteries"), "motor": ("brushed", "brushless")},
        69.0,
        279.0,
    ),
    ProductType(
        "Hair Dryer",
        {
            "power": ("1600W", "1875W", "2000W"),
            "color": ("black", "rose gold", "white"),
            "attachments": ("concentrator", "diffuser kit"),
        },
        29.0,
        299.0,
    ),
    ProductType(
        "Fountain Pen",
        {
            "nib": ("extra fine", "fine", "medium", "broad"),
            "color": ("black", "burgundy", "teal"),
            "filling": ("cartridge", "piston"),
        },
        24.0,
        249.0,
    ),
    ProductType(
        "Acoustic Guitar",
        {
            "body": ("dreadnought", "concert", "parlor"),
            "top": ("spruce", "cedar", "mahogany"),
            "electronics": ("yes", "no"),
        },
        179.0,
        1199.0,
    ),
    ProductType(
        "OLED Television",
        {
            "screen size": ("48-inch", "55-inch", "65-inch", "77-inch"),
            "refresh rate": ("60Hz", "120Hz"),
            "stand": ("feet", "pedestal", "wall mount"),
        },
        899.0,
        2999.0,
    ),
    ProductType(
        "Road Bike",
        {
            "frame size": ("50 cm", "54 cm", "56 cm", "58 cm"),
            "frame": ("aluminum", "carbon"),
            "groupset": ("105", "Ultegra", "Tiagra"),
        },
        999.0,
        3299.0,
    ),
    ProductType(
        "Massage Chair",
        {"color": ("black", "cream", "brown"), "rollers": ("2D", "3D", "4D"), "heat": ("lumbar", "full back")},
        899.0,
        2799.0,
    ),
    ProductType(
        "Espresso Grinder",
        {"burr": ("flat", "conical"), "hopper": ("250 g", "500 g"), "finish": ("black", "stainless", "white")},
        149.0,
        649.0,
    ),
)
