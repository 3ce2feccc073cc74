//! Devices of local users.
//!
//! Tree `useriddeviceid_device`: `(user_id, device_id)` → [`Device`] (JSON).

use serde::{Deserialize, Serialize};

use crate::codec::{KeyReader, key};
use crate::engine::{Batch, Engine, Tree};
use crate::users::corrupt;
use crate::{Result, decode, encode, get};

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Device {
    pub display_name: Option<String>,
    pub last_seen_ip: Option<String>,
    pub last_seen_ts: Option<u64>,
    pub created_ts: u64,
}

#[derive(Clone)]
pub struct Devices {
    devices: Tree,
}

impl Devices {
    pub(crate) fn open(engine: &Engine) -> Result<Self> {
        Ok(Self {
            devices: engine.tree("useriddeviceid_device")?,
        })
    }

    pub fn get(&self, user_id: &str, device_id: &str) -> Result<Option<Device>> {
        get(&self.devices, &key((user_id, device_id)))
    }

    pub fn put(&self, batch: &mut Batch, user_id: &str, device_id: &str, device: &Device) {
        batch.insert(&self.devices, key((user_id, device_id)), encode(device));
    }

    pub fn remove(&self, batch: &mut Batch, user_id: &str, device_id: &str) {
        batch.remove(&self.devices, key((user_id, device_id)));
    }

    /// Records where and when a device was last seen. Not flushed on its own: losing the
    /// latest "last seen" in a crash is harmless, and syncing the disk on every request
    /// is not.
    pub fn touch(&self, user_id: &str, device_id: &str, ip: &str, ts: u64) -> Result<()> {
        let k = key((user_id, device_id));
        let Some(old) = self.devices.get(&k)? else {
            return Ok(());
        };
        let mut device: Device = decode(&old)?;
        device.last_seen_ip = Some(ip.to_owned());
        device.last_seen_ts = Some(ts);
        // If the device changed or vanished meanwhile, the other writer wins.
        self.devices
            .compare_and_swap(&k, Some(&old), Some(&encode(&device)))?;
        Ok(())
    }

    /// All devices of a user, in device-ID order.
    pub fn list(&self, user_id: &str) -> Result<Vec<(String, Device)>> {
        self.devices
            .scan_prefix(&key((user_id,)))
            .map(|entry| {
                let (k, v) = entry?;
                let mut reader = KeyReader::new(&k);
                reader.str().map_err(corrupt)?;
                Ok((reader.str().map_err(corrupt)?.to_owned(), decode(&v)?))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_is_scoped_to_the_user() {
        let (_dir, s) = crate::test_storage();
        let mut b = s.batch();
        s.devices.put(&mut b, "@a:x", "D1", &Device::default());
        s.devices.put(&mut b, "@a:x", "D2", &Device::default());
        s.devices.put(&mut b, "@a:xy", "D3", &Device::default());
        s.engine.apply(b).unwrap();
        let ids: Vec<_> = s
            .devices
            .list("@a:x")
            .unwrap()
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        assert_eq!(ids, ["D1", "D2"]);
        s.devices.touch("@a:x", "D1", "127.0.0.1", 5).unwrap();
        assert_eq!(
            s.devices.get("@a:x", "D1").unwrap().unwrap().last_seen_ts,
            Some(5)
        );
    }
}
