"""Model families, one declaration file each; importing this package registers every one in the catalogue."""
import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
