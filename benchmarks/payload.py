"""What each module ships: its AnsiballZ payload, built the way Ansible builds it (issue 15 item 4).

    payload.py COLLECTIONS_PATH    prints one JSON object: {module: {...sizes...}}

For every module of the collection, ansible-core's own ``module_common.modify_module`` builds the wrapper a task
would send (ZIP_DEFLATED, Ansible's default module_compression); the zip inside it is opened and its entries
counted: our module_utils (files and bytes), Ansible's module_utils, and the compressed payload. Controller code
(ansible.executor, ansible.template) is imported here, so this runs in its own process.
"""

import base64
import io
import json
import os
import re
import sys
import zipfile

OURS = "ansible_collections/opstack/conductor/plugins/module_utils/"
ANSIBLE = "ansible/module_utils/"


def build(collections, module_path):
    from ansible.executor import module_common
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar

    name = os.path.basename(module_path)[:-3]
    built = module_common.modify_module(
        module_name="opstack.conductor." + name, module_path=module_path, module_args={},
        templar=Templar(loader=DataLoader()), task_vars={"ansible_python_interpreter": sys.executable},
        module_compression="ZIP_DEFLATED")
    return built.b_module_data


def measure(wrapper):
    match = re.search(rb"zip_data='([A-Za-z0-9+/=]+)'", wrapper)
    if match is None:
        raise RuntimeError("no zip_data in the AnsiballZ wrapper (ansible-core changed its format?)")
    payload = base64.b64decode(match.group(1))
    ours, theirs = {}, 0
    with zipfile.ZipFile(io.BytesIO(payload)) as archive:
        for info in archive.infolist():
            if info.filename.startswith(OURS) and info.filename.endswith(".py"):
                ours[info.filename[len(OURS):]] = info.file_size
            elif info.filename.startswith(ANSIBLE):
                theirs += info.file_size
    return {"wrapper_bytes": len(wrapper), "zip_bytes": len(payload), "ours_bytes": sum(ours.values()),
            "ours_files": sorted(name for name in ours if name != "__init__.py"),
            "ansible_module_utils_bytes": theirs}


def main():
    collections = os.path.abspath(sys.argv[1])
    os.environ["ANSIBLE_COLLECTIONS_PATH"] = collections
    from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder
    _AnsibleCollectionFinder(paths=[collections])._install()
    modules = os.path.join(collections, "ansible_collections", "opstack", "conductor", "plugins", "modules")
    result = {}
    for name in sorted(os.listdir(modules)):
        if name.endswith(".py") and not name.startswith("_"):
            result[name[:-3]] = measure(build(collections, os.path.join(modules, name)))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
