"""Rebuild the embedded font subsets from the system's DejaVu fonts.

Keeps printable ASCII, Latin-1 and a few typographic marks, drops hinting and the OpenType layout
tables, and turns the GPOS pair kerning into a legacy `kern` table (the only
kerning `ab_glyph` reads). Needs fontTools: `pip install fonttools`.

Usage: python3 assets/fonts/subset_fonts.py [/usr/share/fonts/truetype/dejavu]
"""

import sys
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTFont, newTable
from fontTools.ttLib.tables._k_e_r_n import KernTable_format_0

FONTS = ["DejaVuSans.ttf", "DejaVuSans-Bold.ttf"]
# Printable ASCII, Latin-1, and the dashes, quotes, ellipsis, arrow and minus sign of
# typeset captions and tick labels.
UNICODES = (
    list(range(0x20, 0x7F))
    + list(range(0xA0, 0x100))
    + [0x2013, 0x2014, 0x2018, 0x2019, 0x201C, 0x201D, 0x2026, 0x2192, 0x2212]
)


def gpos_kerning(font):
    """Horizontal advance adjustments of the `kern` feature, as {(left, right): value}."""
    gpos = font["GPOS"].table
    lookups = set()
    for record in gpos.FeatureList.FeatureRecord:
        if record.FeatureTag == "kern":
            lookups.update(record.Feature.LookupListIndex)
    order = font.getGlyphOrder()
    pairs = {}
    for index in sorted(lookups):
        lookup = gpos.LookupList.Lookup[index]
        for table in lookup.SubTable:
            if lookup.LookupType == 9:
                table = table.ExtSubTable
            if table.Format == 1:
                for left, pair_set in zip(table.Coverage.glyphs, table.PairSet):
                    for record in pair_set.PairValueRecord:
                        value = getattr(record.Value1, "XAdvance", 0) or 0
                        if value:
                            pairs.setdefault((left, record.SecondGlyph), value)
            else:
                classes1 = table.ClassDef1.classDefs
                classes2 = table.ClassDef2.classDefs
                for left in table.Coverage.glyphs:
                    row = table.Class1Record[classes1.get(left, 0)]
                    for right in order:
                        value = row.Class2Record[classes2.get(right, 0)].Value1
                        value = getattr(value, "XAdvance", 0) or 0
                        if value:
                            pairs.setdefault((left, right), value)
    return pairs


def main():
    source = Path(sys.argv[1] if len(sys.argv) > 1 else "/usr/share/fonts/truetype/dejavu")
    target = Path(__file__).resolve().parent
    options = subset.Options()
    options.hinting = False
    options.desubroutinize = True
    options.layout_features = ["kern"]
    options.drop_tables += ["FFTM", "MATH"]
    for name in FONTS:
        font = TTFont(source / name)
        subsetter = subset.Subsetter(options)
        subsetter.populate(unicodes=UNICODES)
        subsetter.subset(font)
        kern_table = KernTable_format_0()
        kern_table.version = 0
        kern_table.format = 0
        kern_table.coverage = 1
        kern_table.tupleIndex = None
        kern_table.kernTable = gpos_kerning(font)
        kern = newTable("kern")
        kern.version = 0
        kern.kernTables = [kern_table]
        font["kern"] = kern
        for tag in ("GPOS", "GSUB", "GDEF"):
            if tag in font:
                del font[tag]
        font.save(target / name)
        print(f"{name}: {len(kern_table.kernTable)} kerning pairs, {(target / name).stat().st_size} bytes")


if __name__ == "__main__":
    main()
