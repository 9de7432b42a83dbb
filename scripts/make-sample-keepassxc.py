#!/usr/bin/env python3
"""Write resources/demo/sample-keepassxc.csv: a made-up KeePassXC CSV export
of about 200 network credentials for the 'sealrelayctl import' demo.

Every password is fake and starts with "FAKE-". The output is the same on
every run (fixed random seed, fixed timestamps), so the file only changes
when this script does. Run from anywhere:

    python3 scripts/make-sample-keepassxc.py
"""

import csv
import io
import pathlib
import random

HEADER = ["Group", "Title", "Username", "Password", "URL", "Notes", "TOTP", "Icon",
          "Last Modified", "Created"]
SITES = ["ams", "fra", "zrh", "sao", "krk", "sin"]
SITE_NAMES = {"ams": "Amsterdam", "fra": "Frankfurt", "zrh": "Zürich", "sao": "São Paulo",
              "krk": "Kraków", "sin": "Singapore"}
CREATED = "2024-03-01T08:00:00Z"
MODIFIED = "2025-11-02T09:14:00Z"


def fake_password(rng, label):
    """Return a made-up password: FAKE-, the label, and 12 random letters and digits."""
    alphabet = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "FAKE-" + label + "-" + "".join(rng.choice(alphabet) for _ in range(12))


def row(group, title, username, password, url="", notes="", totp=""):
    return [group, title, username, password, url, notes, totp, "0", MODIFIED, CREATED]


def build_rows(rng):
    rows = []
    for site in SITES:
        city = SITE_NAMES[site]
        subnet = 10 + SITES.index(site)
        for number in range(1, 13):
            host = f"{site}-sw-{number:02d}"
            rows.append(row(f"Root/Network/Switches/{city}", f"{host} admin", "admin",
                            fake_password(rng, "sw"), f"ssh://10.{subnet}.1.{number}",
                            f"Rack {number}, {city}\nConsole via {site}-cons-01 port {number}"))
        for number in range(1, 4):
            host = f"{site}-rtr-{number:02d}"
            rows.append(row(f"Root/Network/Routers/{city}", f"{host} enable", "",
                            fake_password(rng, "enable"), f"ssh://10.{subnet}.0.{number}"))
            rows.append(row(f"Root/Network/Routers/{city}", f"{host} admin", "netadmin",
                            fake_password(rng, "rtr"), f"ssh://10.{subnet}.0.{number}"))
        for number in range(1, 3):
            host = f"{site}-fw-{number:02d}"
            rows.append(row(f"Root/Network/Firewalls/{city}", f"{host} admin", "fwadmin",
                            fake_password(rng, "fw"), f"https://{host}.example.test",
                            "HA pair; change both members together", "otpauth://totp/"
                            f"{host}?secret=FAKEFAKEFAKEFAKE"))
        for number in range(1, 3):
            host = f"{site}-cons-{number:02d}"
            rows.append(row(f"Root/Network/Console servers/{city}", f"{host} root", "root",
                            fake_password(rng, "cons"), f"ssh://10.{subnet}.2.{number}"))
            host = f"{site}-pdu-{number:02d}"
            rows.append(row(f"Root/Network/Power/{city}", f"{host} admin", "apc",
                            fake_password(rng, "pdu"), f"https://{host}.example.test"))
        rows.append(row("Root/Network/SNMP", f"{site} community ro", "",
                        fake_password(rng, "snmp-ro"), "",
                        "Read-only community, \"public\" is never used"))
        rows.append(row("Root/Network/SNMP", f"{site} community rw", "",
                        fake_password(rng, "snmp-rw")))
        rows.append(row("Root/Network/SNMP", f"{site} v3 user", "snmp-monitor",
                        fake_password(rng, "snmpv3"), "", "authPriv, SHA-256, AES-128"))

    for number in range(1, 25):
        peer = f"AS6450{number % 10} peer {number}"
        rows.append(row("Root/Network/BGP", f"bgp key {peer}", "",
                        fake_password(rng, "bgp"), "",
                        f"TCP-AO key, neighbor 192.0.2.{number}"))
    for number in range(1, 5):
        rows.append(row("Root/Network/TACACS", f"tacacs key tac-{number:02d}", "",
                        fake_password(rng, "tacacs"), f"tacacs://198.51.100.{number}",
                        "Shared key, also in the switches' running config"))
    for number in range(1, 3):
        rows.append(row("Root/Network/RADIUS", f"radius secret rad-{number:02d}", "",
                        fake_password(rng, "radius"), f"radius://198.51.100.{10 + number}"))
    rows.append(row("Root/Network/Break glass", "local admin, all switches", "breakglass",
                    fake_password(rng, "glass"), "",
                    "Sealed envelope copy in the NOC safe, shelf 2"))

    # Entries the import skips, so the demo shows each reason.
    rows.append(row("Root/Network/Switches/Amsterdam", "ams-sw-99 admin", "admin", "",
                    "ssh://10.10.1.99", "Decommissioned; no password"))
    rows.append(row("Root/Recycle Bin", "old-core-01 admin", "admin",
                    fake_password(rng, "old")))
    rows.append(row("Root/Network/Switches/Amsterdam", "ams-sw-01 admin", "admin",
                    fake_password(rng, "dup"), "", "Second copy of the same entry"))
    return rows


def main():
    rng = random.Random(20251102)
    output = io.StringIO()
    writer = csv.writer(output, quoting=csv.QUOTE_ALL, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(build_rows(rng))
    target = pathlib.Path(__file__).resolve().parent.parent / "resources/demo/sample-keepassxc.csv"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(output.getvalue(), encoding="utf-8")


if __name__ == "__main__":
    main()
