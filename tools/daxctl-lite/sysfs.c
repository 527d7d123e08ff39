// SPDX-License-Identifier: MIT
/*
 * Devices found in sysfs, described without opening them (as daxctl list
 * does): kernel device-DAX devices on the dax bus (<root>/bus/dax/devices)
 * and the companion module's devices (<root>/class/daxlite, see
 * kmod/daxlite.c).  Each device
 * folder has size, align, numa_node, target_node, resource, mappingN/ and,
 * one level up, dax_region/{id,align,size}; a missing attribute is null.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "daxctl-lite.h"

const char *sysfs_root(const struct cli_opts *o)
{
	return o->sysfs_root ? o->sysfs_root : "/sys";
}

/* Read one line of @dir/@attr; false when it is absent or empty. */
static bool read_attr(const char *dir, const char *attr, char *buf,
		      size_t len)
{
	char path[PATH_MAX];
	FILE *f;
	bool ok;

	snprintf(path, sizeof(path), "%s/%s", dir, attr);
	f = fopen(path, "re");
	if (!f)
		return false;
	ok = fgets(buf, (int)len, f) != NULL;
	fclose(f);
	if (ok)
		buf[strcspn(buf, "\n")] = '\0';
	return ok && buf[0];
}

static bool read_u64(const char *dir, const char *attr, uint64_t *val)
{
	char buf[64], *end;

	if (!read_attr(dir, attr, buf, sizeof(buf)))
		return false;
	errno = 0;
	*val = strtoull(buf, &end, 0);
	return !errno && end != buf && *end == '\0';
}

/* numa_node and target_node: -1 (or absent) means unknown, shown as null. */
static void set_node(struct json_object *jr, const char *dir, const char *attr)
{
	char buf[32], *end;
	long node;

	if (!read_attr(dir, attr, buf, sizeof(buf)))
		return;
	node = strtol(buf, &end, 10);
	if (*end == '\0' && node >= 0 && node <= INT_MAX)
		json_set_int_or_null(jr, attr, (int)node);
}

/* mode and region_id: what only sysfs knows, also used by info. */
static void set_driver_fields(struct json_object *jr, const char *dir)
{
	char path[PATH_MAX], link[PATH_MAX];
	const char *driver;
	uint64_t id;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/driver", dir);
	n = readlink(path, link, sizeof(link) - 1);
	if (n > 0) {
		link[n] = '\0';
		driver = strrchr(link, '/') ? strrchr(link, '/') + 1 : link;
		json_set_str(jr, "mode", strcmp(driver, "kmem") ? "devdax"
								: "system-ram");
	}
	if (read_u64(dir, "../dax_region/id", &id) && id <= INT_MAX)
		json_set_int_or_null(jr, "region_id", (int)id);
}

static bool read_mapping(const char *dir, unsigned i, const char *attr,
			 uint64_t *val)
{
	char name[64];

	snprintf(name, sizeof(name), "mapping%u/%s", i, attr);
	return read_u64(dir, name, val);
}

/* mappingN/{start,end,page_offset}; else one mapping from resource + size. */
static void set_mappings(struct json_object *jr, const char *dir,
			 uint64_t size)
{
	struct json_object *jm = json_object_new_array();
	uint64_t start, end, pgoff;
	unsigned i;

	for (i = 0; read_mapping(dir, i, "start", &start) &&
		    read_mapping(dir, i, "end", &end) &&
		    read_mapping(dir, i, "page_offset", &pgoff); i++)
		json_object_array_add(jm, json_mapping_new(start, end, pgoff));
	if (i == 0 && size && read_u64(dir, "resource", &start))
		json_object_array_add(jm, json_mapping_new(start,
							   start + size - 1, 0));
	json_object_object_add(jr, "mappings", jm);
}

static struct json_object *device_to_json(const char *dir, const char *name,
					  const char *kind)
{
	struct json_object *jr = json_region_new();
	char path[PATH_MAX];
	uint64_t val, size = 0;

	snprintf(path, sizeof(path), "/dev/%s", name);
	json_set_str(jr, "path", path);
	json_set_str(jr, "chardev", name);
	json_set_str(jr, "kind", kind);
	if (!strcmp(kind, "module"))
		json_set_str(jr, "mode", "devdax");
	if (read_u64(dir, "size", &size))
		json_set_u64(jr, "size", size);
	/* The kernel keeps the alignment per device, or per region before 5.10. */
	if (read_u64(dir, "align", &val) || read_u64(dir, "../dax_region/align",
						     &val))
		json_set_u64(jr, "align", val);
	set_node(jr, dir, "numa_node");
	set_node(jr, dir, "target_node");
	set_driver_fields(jr, dir);
	set_mappings(jr, dir, size);
	return jr;
}

static int scan_dir(const char *root, const char *sub, const char *kind,
		    struct json_object *regions)
{
	struct dirent **names;
	char dir[PATH_MAX], dev[PATH_MAX];
	struct stat st;
	int i, n;

	snprintf(dir, sizeof(dir), "%s/%s", root, sub);
	n = scandir(dir, &names, NULL, versionsort);
	if (n < 0)	/* no such bus or class: nothing of that kind here */
		return errno == ENOENT ? 0 : -errno;
	for (i = 0; i < n; i++) {
		/* Devices are folders; class/daxlite/remove is a file. */
		if (names[i]->d_name[0] != '.' &&
		    snprintf(dev, sizeof(dev), "%s/%s", dir,
			     names[i]->d_name) < (int)sizeof(dev) &&
		    !stat(dev, &st) && S_ISDIR(st.st_mode)) {
			json_object_array_add(regions,
					      device_to_json(dev,
							     names[i]->d_name,
							     kind));
		}
		free(names[i]);
	}
	free(names);
	return 0;
}

/*
 * sysfs_list_devices() - append a region object for each device-DAX device
 * and each module device.  Return: 0, or -errno when a folder that exists
 * cannot be read.
 */
int sysfs_list_devices(const struct cli_opts *o, struct json_object *regions)
{
	const char *root = sysfs_root(o);
	struct stat st;
	int ret;

	if (stat(root, &st))
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	ret = scan_dir(root, "bus/dax/devices", "devdax", regions);
	if (!ret)
		ret = scan_dir(root, "class/daxlite", "module", regions);
	return ret;
}

void sysfs_describe_chardev(const struct cli_opts *o, const char *path,
			    struct json_object *jregion)
{
	char dir[PATH_MAX];
	struct stat st;

	if (stat(path, &st) || !S_ISCHR(st.st_mode))
		return;
	snprintf(dir, sizeof(dir), "%s/dev/char/%u:%u", sysfs_root(o),
		 major(st.st_rdev), minor(st.st_rdev));
	set_driver_fields(jregion, dir);
}
